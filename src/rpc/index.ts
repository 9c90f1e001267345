/** The RPC layer: a transport (in-process or AMQP) plus oslo-style clients and servers. */
export { createTransport } from './transport.ts'
export type {
  IncomingMessage,
  Listener,
  ListenOptions,
  MessageHandler,
  MessageKind,
  QueueStat,
  RequestOptions,
  ServerTarget,
  Target,
  Transport,
} from './transport.ts'
export { InprocTransport } from './inproc.ts'
export { inspectBroker, type BrokerReport } from './broker-stats.ts'
export { AmqpTransport } from './amqp.ts'
export { RpcClient } from './client.ts'
export type { RpcClientOptions, PrepareOptions } from './client.ts'
export { RpcServer } from './server.ts'
export type { Endpoint } from './server.ts'
export type { RpcMessage } from './message.ts'
export { NoSuchMethod } from './errors.ts'
