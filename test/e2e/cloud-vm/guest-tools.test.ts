import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { waitFor } from '../vm/support.ts'
import { NET, VmCloud } from './cloud.ts'

/**
 * What Tempest's scenario tests run in a guest over SSH, run in a real
 * nimbus-tiny guest (root, libvirt TCG, the whole cloud in this process) as
 * the user `nimbus`, each command behind Tempest's own prologue: curl to the
 * metadata service (public-ipv4, the password POST read back through
 * os-server-password), sudo, the config drive found by `blkid -L config-2`
 * and mounted, a file written on the root, unprivileged ping, `ip`/`awk`/
 * `cut` as remote_client uses them, udhcpc's pid file and a lease renewal
 * by SIGUSR1, and busybox nc listening and answering.
 */
const SUITE_TIMEOUT_MS = 300_000
/** remote_client.py's ssh_shell_prologue. */
const TEMPEST_PROLOGUE = 'set -eu -o pipefail; PATH=$PATH:/sbin;'
const MD = 'http://169.254.169.254'
const NC_PORT = 80
const NC_REPLY = 'foolish'
const NC_TIMEOUT_MS = 20_000
const NC_ATTEMPT_MS = 4_000
/** The subnet's DNS servers, before and after the update a lease renewal must bring (test_subnet_details). */
const DNS_BEFORE = '198.51.100.53'
const DNS_AFTER = '198.51.100.54'
const RENEW_TIMEOUT_MS = 30_000
/** A second network for the hot-plugged NIC (as test_hotplug_nic makes one). */
const NET2 = { cidr: '198.51.100.0/24', gateway: '198.51.100.1', guest: '198.51.100.20' } as const
/** os-interface attach -> the guest's kernel shows eth1 (ACPI PCI hot-plug under TCG). */
const HOTPLUG_TIMEOUT_MS = 60_000

const isRoot = process.getuid?.() === 0

describe(
  'the guest runs what Tempest runs over SSH (root, libvirt TCG)',
  { skip: isRoot ? false : 'needs root', timeout: SUITE_TIMEOUT_MS },
  () => {
    const c = new VmCloud()
    const servers = new Set<string>()
    let server: any
    let ip = ''
    let mac = ''
    let fip = ''

    before(async () => {
      await c.start()
      await c.cli(['keypair', 'create', '--public-key', `${c.keys.privateKey}.pub`, 'k'])
      // The probe reaches the guest's nc listener (SSH is already open).
      await c.api.create('security-group-rules', 'security_group_rule', {
        security_group_id: c.ids.group.id,
        direction: 'ingress',
        protocol: 'tcp',
        port_range_min: NC_PORT,
        port_range_max: NC_PORT,
        remote_ip_prefix: NET.cidr,
      })
      await c.api.ok(
        'PUT',
        `/v2.0/subnets/${c.ids.sub.id}`,
        { subnet: { dns_nameservers: [DNS_BEFORE] } },
        200,
      )
      server = await c.createServer('vm-tools', {
        extra: ['--config-drive', 'true', '--property', 'role=tempest-guest'],
      })
      servers.add(server.id)
      const port = (await c.api.ok('GET', `/v2.0/ports?device_id=${server.id}`, undefined, 200)).ports[0]
      ip = port.fixed_ips[0].ip_address
      mac = port.mac_address
      const floating = await c.api.create('floatingips', 'floatingip', {
        floating_network_id: c.ids.ext.id,
        port_id: port.id,
      })
      fip = floating.floating_ip_address
      assert.equal(await c.waitForSsh(c.probe, ip, 'vm-tools', server.id), 'vm-tools')
    })

    after(() => c.stop([...servers]))

    /** One command as Tempest's RemoteClient.exec_command runs it; fails with the SSH error. */
    async function sh(command: string): Promise<string> {
      const out = await c.ssh(c.probe, ip, `${TEMPEST_PROLOGUE} ${command}`)
      assert.notEqual(out, undefined, `${command}: ${c.lastSshError}\n${c.consoleTail(server.id)}`)
      return out!
    }

    it('curl reads public-ipv4 (the floating IP) from 169.254.169.254', async () => {
      // Exactly, as test_server_basic_ops compares it (curl's progress meter goes to stderr).
      assert.equal(await sh(`curl ${MD}/latest/meta-data/public-ipv4`), fip)
    })

    it('curl -X POST stores the password; os-server-password returns it', async () => {
      const password = 'T3mpest'.repeat(15).slice(0, 100)
      await sh(`curl -X POST -d ${password} ${MD}/openstack/2013-10-17/password`)
      const shown = await c.compute('GET', `/servers/${server.id}/os-server-password`)
      assert.equal(shown.status, 200)
      assert.equal(shown.body.password, password)
      assert.equal((await sh(`curl -s ${MD}/openstack/latest/password`)).trim(), password)
    })

    it('lsblk lists the disks as Tempest counts them (root disk and config drive)', async () => {
      const names = (await sh('lsblk -lb --nodeps'))
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0])
      assert.ok(names.includes('vda'), names.join(' '))
      assert.ok(
        names.some((n) => /^sr\d$/.test(n!)),
        names.join(' '),
      )
    })

    it('sudo needs no password; blkid -L config-2 finds the config drive, which mounts and holds meta_data.json', async () => {
      assert.equal((await sh('sudo id -u')).trim(), '0')
      const dev = (await sh('blkid -L config-2 -o device')).trim()
      assert.match(dev, /^\/dev\/sr\d$/)
      await sh(`sudo mount ${dev} /mnt`)
      try {
        const md = JSON.parse(await sh('sudo cat /mnt/openstack/latest/meta_data.json'))
        assert.equal(md.uuid, server.id)
        assert.deepEqual(md.meta, { role: 'tempest-guest' })
      } finally {
        await sh('sudo umount /mnt')
      }
    })

    it('a timestamp written as root on the root file system reads back', async () => {
      await sh('sudo sh -c "date > /mnt/timestamp; sync"')
      assert.match(await sh('sudo cat /mnt/timestamp'), /\d\d:\d\d:\d\d/)
    })

    it('ping works unprivileged and as root from eth0', async () => {
      assert.match(await sh(`ping -c1 -w1 -s56 ${NET.gateway}`), /1 packets received|1 received/)
      assert.match(await sh(`sudo ping -I eth0 -c1 -w1 -s56 ${NET.gateway}`), /1 packets received|1 received/)
    })

    it('ip, awk and cut answer as remote_client parses them; DNS from DHCP; /dev/console', async () => {
      assert.match(await sh('ip a'), new RegExp(`inet ${ip.replace(/\./g, '\\.')}/24`))
      assert.match(await sh('ip address'), new RegExp(mac))
      assert.equal((await sh(`ip -o link | awk '/${mac}/ {print $2}'`)).trim(), 'eth0:')
      assert.equal((await sh(`ip -o addr | awk '/${ip}/ {print $2}'`)).trim(), 'eth0')
      assert.equal((await sh("ip addr | awk '/ether/ {print $2}'")).trim(), mac)
      assert.match((await sh('cut -f1 -d. /proc/uptime')).trim(), /^\d+$/)
      assert.match(await sh('cat /etc/resolv.conf'), new RegExp(`^nameserver ${DNS_BEFORE}$`, 'm'))
      await sh('sudo sh -c "echo \\"tempest-console-mark\\" >/dev/console"')
      assert.match(c.consoleTail(server.id), /tempest-console-mark/)
    })

    it('udhcpc runs with /var/run/udhcpc.eth0.pid; SIGUSR1 through sudo renews the lease and its DNS servers', async () => {
      const pid = (await sh('cat /var/run/udhcpc.eth0.pid')).trim()
      assert.match(pid, /^\d+$/)
      assert.equal((await sh(`cat /proc/${pid}/comm`)).trim(), 'udhcpc')
      await c.api.ok(
        'PUT',
        `/v2.0/subnets/${c.ids.sub.id}`,
        { subnet: { dns_nameservers: [DNS_AFTER] } },
        200,
      )
      await sh(`sudo /bin/kill -USR1 ${pid}`)
      await waitFor('resolv.conf after the renewal', RENEW_TIMEOUT_MS, async () =>
        (await c.ssh(c.probe, ip, 'cat /etc/resolv.conf'))?.includes(`nameserver ${DNS_AFTER}`)
          ? true
          : undefined,
      )
      // The renewal keeps the address: SSH still answers, udhcpc is still the same process.
      assert.equal((await sh('cat /var/run/udhcpc.eth0.pid')).trim(), pid)
      assert.match(await sh('ip -o addr'), new RegExp(`inet ${ip.replace(/\./g, '\\.')}/24`))
    })

    it('nc listens persistently and answers, to the guest itself and to the probe across the network', async () => {
      await sh(`sudo sh -c 'nc -ll -p ${NC_PORT} -e echo ${NC_REPLY} >/dev/null 2>&1 &'`)
      assert.equal((await sh(`echo "bar" | nc -w 1 127.0.0.1 ${NC_PORT}`)).trim(), NC_REPLY)
      // A second connection: the listener is persistent (-ll).
      assert.equal((await sh(`echo "bar" | nc -w 1 ${ip} ${NC_PORT}`)).trim(), NC_REPLY)
      // As Tempest's nc_host: send a line, read what the listener answers (one connection per attempt).
      const script = `const s=require('net').connect(${NC_PORT},'${ip}',()=>s.write('bar\\n'));let b='';s.on('data',d=>{b+=d;if(b.includes('${NC_REPLY}')){console.log(b.trim());process.exit(0)}});s.on('end',()=>process.exit(3));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(2),${NC_ATTEMPT_MS})`
      const reply = await waitFor('nc answer at the probe', NC_TIMEOUT_MS, () =>
        c.topo.exec(c.probe, [process.execPath, '-e', script], NC_ATTEMPT_MS + 2000).catch(() => undefined),
      )
      assert.equal(reply.trim(), NC_REPLY)
    })

    it('a hot-plugged NIC appears as eth1 and takes an address by sudo ip; sudo ip link sets its MAC', async () => {
      const net2 = await c.api.create('networks', 'network', { name: 'net2' })
      await c.api.create('subnets', 'subnet', {
        network_id: net2.id,
        cidr: NET2.cidr,
        ip_version: 4,
        gateway_ip: NET2.gateway,
        allocation_pools: [{ start: '198.51.100.10', end: '198.51.100.100' }],
      })
      const attached = await c.compute('POST', `/servers/${server.id}/os-interface`, {
        interfaceAttachment: { net_id: net2.id, fixed_ips: [{ ip_address: NET2.guest }] },
      })
      assert.equal(attached.status, 200, JSON.stringify(attached.body))
      const mac2 = attached.body.interfaceAttachment.mac_addr as string
      const nic = await waitFor('eth1 in the guest', HOTPLUG_TIMEOUT_MS, async () => {
        const out = await c.ssh(c.probe, ip, `${TEMPEST_PROLOGUE} ip -o link | awk '/${mac2}/ {print $2}'`)
        return out?.trim() ? out.trim().replace(/:$/, '') : undefined
      })
      assert.equal(nic, 'eth1')
      await sh(`sudo ip addr add ${NET2.guest}/24 dev ${nic}; sudo ip link set ${nic} up`)
      assert.equal((await sh(`ip -o addr | awk '/${NET2.guest}/ {print $2}'`)).trim(), nic)
      const spoofed = 'fa:16:3e:00:be:ef'
      await sh(
        `sudo ip link set ${nic} down; sudo ip link set dev ${nic} address ${spoofed}; sudo ip link set ${nic} up`,
      )
      assert.equal((await sh(`ip -o link | awk '/${spoofed}/ {print $2}'`)).trim(), `${nic}:`)
    })
  },
)
