/**
 * Every bound in Nimbus, in one place, with its unit last in the name.
 * Each can be overridden in the `[limits]` section of the config file by its
 * snake_case name (e.g. `rpc_call_timeout_ms = 30000`) or by the environment
 * (`NIMBUS_LIMITS__RPC_CALL_TIMEOUT_MS=30000`). Code reads `limits.x` at use
 * time, so an override applied at start-up reaches every caller.
 */
export const LIMIT_DEFAULTS = {
  /** Largest JSON request body any API accepts (oslo.middleware's default). */
  maxRequestBodyBytes: 114_688,
  /**
   * Deepest nesting of arrays and objects in a JSON request body; deeper is
   * 400. OpenStack bodies nest fewer than 10 levels; validators and error
   * messages walk a body recursively, so an unbounded depth exhausts the stack.
   */
  maxJsonDepth: 100,
  /** Largest password a guest may post to the metadata service (Nova's password.MAX_SIZE; larger is 400). */
  metadataPasswordMaxBytes: 256,
  /**
   * Longest regular expression a user may give a list filter (Nova's regex
   * filters). Patterns run in RE2 (linear time) in a worker thread; this and
   * the two bounds below bound the work per tested value.
   */
  userRegexMaxChars: 1_024,
  /** Most characters the counted repetitions (`{n}`, `{n,m}`) of one user pattern add up to. */
  userRegexMaxRepeat: 1_000,
  /** Most instructions a compiled user pattern may have (RE2's NFA does this much work per character). */
  userRegexMaxProgramSize: 2_000,
  /** Longest one batch of user-pattern matching may take before the worker is restarted and the request gets 503. */
  userRegexWorkerTimeoutMs: 30_000,
  /** Largest page a list API returns, whatever `limit` asks (Nova's max_limit). */
  maxPageSize: 1_000,
  /** Time an HTTP request may take before the server gives up on it. */
  httpRequestTimeoutMs: 120_000,
  /** Time `nimbus up` waits for in-flight requests and handlers on shutdown. */
  shutdownGraceMs: 30_000,
  /** Default time an RPC `call` waits for its reply (oslo's rpc_response_timeout). */
  rpcCallTimeoutMs: 60_000,
  /** Largest serialised RPC message. */
  rpcMaxMessageBytes: 16 * 1024 * 1024,
  /** Messages an in-process queue holds before a cast is refused. */
  rpcInprocQueueLength: 100_000,
  /** Concurrent handlers one RPC server runs (AMQP prefetch). */
  rpcServerConcurrency: 64,
  /** Attempts to reconnect to the broker before the transport reports itself down. */
  rpcReconnectMaxAttempts: 60,
  /** First delay between reconnect attempts; doubles up to the maximum below. */
  rpcReconnectInitialDelayMs: 100,
  /** Longest delay between reconnect attempts. */
  rpcReconnectMaxDelayMs: 5_000,
  /** Casts buffered while the broker is unreachable; beyond this a cast fails. */
  rpcPendingCastsMax: 10_000,
  /** Time to open one TCP + AMQP connection to the broker before the attempt counts as failed. */
  rpcConnectTimeoutMs: 5_000,
  /**
   * AMQP heartbeat interval: a broker that stops answering (half-open TCP) is
   * detected after about two intervals, then the reconnect loop starts.
   */
  rpcHeartbeatIntervalMs: 30_000,
  /**
   * Ids of recently started messages an RPC server remembers, so a message the
   * broker redelivers because its ack was lost with the connection is not run twice.
   */
  rpcSeenMessageIdsMax: 10_000,
  /**
   * Time the broker has to confirm a cast written to it (it may be blocking
   * publishers on a resource alarm) before the cast rejects with
   * MessageDeliveryFailure instead of waiting forever.
   */
  rpcConfirmTimeoutMs: 60_000,
  /** Connections in one PostgreSQL pool. */
  dbPoolSize: 10,
  /** Time a statement may take on PostgreSQL. */
  dbStatementTimeoutMs: 30_000,
  /** Time SQLite waits on a locked database before failing. */
  dbBusyTimeoutMs: 5_000,
  /**
   * Prepared statements SQLite keeps, by SQL text (least recently used goes
   * first). Nimbus issues a few hundred distinct statements; preparing one
   * costs about as much as running it.
   */
  dbStatementCacheEntries: 1_000,
  /**
   * Time the database layer keeps retrying what is safe to retry (a failed
   * connection, a read, a whole transaction) when the database is
   * unreachable or busy, inside an API request, before it answers 503.
   */
  dbRetryRequestWaitMs: 5_000,
  /**
   * The same for work no client waits on (RPC handlers, periodic tasks): a
   * build rides out a database restart instead of failing. Kept below
   * rpcCallTimeoutMs so the caller of a `call` hears the outcome.
   */
  dbRetryBackgroundWaitMs: 30_000,
  /** First pause between two database retries; doubles up to the maximum below. */
  dbRetryInitialDelayMs: 100,
  /** Longest pause between two database retries (also how soon a recovered database is noticed). */
  dbRetryMaxDelayMs: 1_000,
  /** Retry-After (seconds) of a 503 answered because the database is unavailable. */
  dbRetryAfterS: 5,
  /**
   * Time `nimbus up` / `nimbus serve` wait for the database at start-up
   * (it may start after them, or be restarting) before giving up.
   */
  dbStartupWaitMs: 120_000,
  /** Compute API microversion header values kept negotiated (emptied when full). */
  microversionCacheEntries: 1_000,
  /** Server hostIds (sha224 of project and host) kept computed (emptied when full). */
  computeHostIdCacheEntries: 10_000,
  /**
   * Time to open one PostgreSQL connection, and to wait for a free slot in a
   * full pool. Bounds how long an unreachable database stalls a caller.
   */
  dbConnectTimeoutMs: 10_000,
  /**
   * Instances one scheduling request may place. Each pick filters and weighs
   * every host again, so this bounds the scheduler's work per request.
   */
  schedulerMaxInstancesPerRequest: 1_000,
  /**
   * Host names one list of a scheduler decision record keeps (filter in/out,
   * reasons, weighed order); the rest are only counted. The record is stored
   * with the instance action event, so it must stay small on large clouds.
   */
  schedulerRecordMaxHosts: 100,
  /** Images one list page holds when the request gives no `limit` (Glance's limit_param_default). */
  imageListDefaultPageSize: 25,
  /** Extra properties one image may carry (Glance's image_property_quota); beyond it 413. */
  imagePropertiesMax: 128,
  /** Tags one image may carry (Glance's image_tag_quota); beyond it 413. */
  imageTagsMax: 128,
  /** Members one image may be shared with (Glance's image_member_quota); beyond it 413. */
  imageMembersMax: 128,
  /**
   * Longest pause in an image upload or download before the transfer is
   * abandoned (Glance's client_socket_timeout). Bounds how long a stalled
   * client holds a temporary file and an image in `saving`.
   */
  imageTransferIdleTimeoutMs: 900_000,
  /**
   * Largest rest of a refused upload's body the image API still reads (and
   * discards) so the client, which sends its whole body before it reads the
   * answer, gets the error rather than a reset connection. A larger refused
   * upload has its connection closed.
   */
  imageRefusedUploadDrainMaxBytes: 64 * 1024 * 1024,
  /** Time one host command of the guest-image builder may take (dpkg-deb, mkfs, qemu-img ...). */
  guestImageCommandTimeoutMs: 120_000,
  /** Time `apt-get download` of the guest image's Debian packages may take. */
  guestImageDownloadTimeoutMs: 600_000,
  /**
   * Bytes the per-host base image cache (`instances_path/_base`) may hold;
   * beyond it, unused bases are evicted least recently used first.
   */
  imageCacheMaxBytes: 20 * 1024 ** 3,
  /** A base no instance uses is kept at least this long after its last use (Nova's remove_unused_original_minimum_age_seconds, shorter). */
  imageCacheUnusedMinAgeMs: 600_000,
  /** Time one `virsh`/`qemu-img` command of the libvirt driver may take before it is killed. */
  libvirtCommandTimeoutMs: 30_000,
  /** Time building one config drive ISO (xorriso) may take. */
  configDriveBuildTimeoutMs: 30_000,
  /** Largest config drive content (all files together), as a guard against a runaway user_data. */
  configDriveMaxBytes: 64 * 1024 * 1024,
  /**
   * Time a spawn waits, its guest created paused, for the network to report
   * every port wired (Nova's vif_plugging_timeout, 300 s; fatal as
   * vif_plugging_is_fatal).
   */
  vifPluggingTimeoutMs: 300_000,
  /** Interval between two checks of the ports' status while waiting for them to be wired. */
  vifPluggedPollIntervalMs: 50,
  /** Time a spawn or interface attach waits for the network agent to make a NIC's bridge on this host. */
  libvirtBridgeWaitMs: 10_000,
  /** Time spawn waits for a started domain to report RUNNING (Nova polls every 0.5 s). */
  libvirtSpawnTimeoutMs: 60_000,
  /** Interval between domain state polls. */
  libvirtPollIntervalMs: 500,
  /** Time a soft reboot or power off waits for the guest (ACPI) before forcing it. */
  libvirtShutdownTimeoutMs: 30_000,
  /** Most bytes of serial console log returned by one console-output request. */
  libvirtConsoleMaxBytes: 1024 * 1024,
  /**
   * Time the start-up probe gives the guest kernel under KVM to print its
   * long-mode marker (about 1 s where KVM works; a host where KVM half-works
   * hangs or dies, so this bounds what such a host pays, once per host boot).
   */
  libvirtKvmProbeTimeoutMs: 15_000,
  /**
   * How long a spawn under KVM keeps watching a started guest for a KVM
   * internal error (the guest pauses within its first seconds of boot on a
   * host where KVM half-works) before it calls the spawn done.
   */
  libvirtKvmFailureWatchMs: 5_000,
  /** Most bytes read from the end of a domain's QEMU log when looking for a KVM error. */
  libvirtQemuLogTailBytes: 64 * 1024,
  /** Validated tokens the identity service keeps decoded (dropped on any identity change). */
  identityTokenCacheEntries: 10_000,
  /** Longest time a decoded token is reused before its user, scope and roles are read again. */
  identityTokenCacheMaxAgeMs: 30_000,
  /** How often the identity service reads revocation events written by other identity processes. */
  identityRevocationRefreshMs: 1_000,
  /** Longest password accepted (Keystone's max_password_length). */
  identityMaxPasswordBytes: 4_096,
  /** Most entities one identity list answers with; beyond it the answer says `truncated`. */
  identityMaxListEntries: 10_000,
  /** Deepest project hierarchy (Keystone's max_project_tree_depth). */
  identityProjectTreeMaxDepth: 5,
  /** Tags one project may carry (Keystone's limit). */
  identityProjectMaxTags: 80,
  /** Deepest chain of redelegated trusts a new trust may allow (Keystone's `[trust] max_redelegation_count`). */
  identityTrustMaxRedelegationCount: 3,
  /** Compare-and-set attempts to take one use of a limited trust before giving up (Keystone's). */
  identityTrustConsumeAttempts: 10,
  /** Tokens a service validating over HTTP keeps in its LRU cache. */
  authTokenCacheEntries: 10_000,
  /** Time a service waits for the identity service to validate a token over HTTP. */
  authValidateTimeoutMs: 10_000,
  /** How often a running identity service looks for Fernet keys rotated by `nimbus identity fernet-rotate`. */
  identityKeyReloadMs: 1_000,
  /**
   * Longest wait for a compute host's uptime in the hypervisors API (2.88):
   * a sick host shows null instead of hanging the request for the RPC timeout.
   */
  computeHostUptimeTimeoutMs: 5_000,
  /** Longest wait for a compute host's answer to a server diagnostics request (two virsh calls on libvirt). */
  computeDiagnosticsTimeoutMs: 30_000,
  /**
   * How long the compute API reuses its list of compute services for server
   * views (host_status) and delete routing: views are asked for far more
   * often than services change state.
   */
  computeServiceListCacheMs: 1_000,
  /** How long compute reuses an image looked up for the same caller (a burst of boots from one image). */
  computeImageCacheMs: 2_000,
  /** Attempts a compute host makes to register with the conductor at start-up, one second apart. */
  computeRegisterAttemptsMax: 30,
  /** Interval between a network host's agent heartbeats (Neutron's `report_interval`). */
  networkAgentReportIntervalMs: 30_000,
  /** A network agent without a heartbeat for this long is shown `alive: false` (Neutron's `agent_down_time`). */
  networkAgentDownTimeMs: 75_000,
} as const

export type LimitName = keyof typeof LIMIT_DEFAULTS

/** The limits in force. Mutated only by `setLimits` at start-up and in tests. */
export const limits: { -readonly [K in LimitName]: number } = { ...LIMIT_DEFAULTS }

/** Applies overrides (validated by the config loader) on top of the defaults. */
export function setLimits(overrides: Partial<Record<LimitName, number>>): void {
  Object.assign(limits, LIMIT_DEFAULTS, overrides)
}

export function limitNameToConfigKey(name: LimitName): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
}
