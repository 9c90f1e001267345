import type { Config } from '../../../common/config.ts'
import { debCacheDir } from '../../../guest-image/command.ts'
import type { VirtNic } from '../driver.ts'
import { LibvirtDriver } from './driver.ts'
import type { ImageSource } from './image-cache.ts'

/**
 * The libvirt driver as `[libvirt]` configures it. The compute service passes
 * how to fetch images (the image service) and how to find a port's bridge
 * (default: the NIC's own `bridge`, else Neutron linuxbridge's `brq<net-id[:11]>`).
 */
export function libvirtDriverFromConfig(
  config: Config,
  images: ImageSource,
  bridgeFor?: (nic: VirtNic) => string,
): LibvirtDriver {
  return new LibvirtDriver({
    uri: config.libvirt.connectionUri,
    virtType: config.libvirt.virtType,
    instancesPath: config.libvirt.instancesPath,
    images,
    ...(bridgeFor ? { bridgeFor } : {}),
    nodename: config.host,
    forceConfigDrive: config.compute.forceConfigDrive,
    debCacheDir: debCacheDir(config.stateDir),
  })
}
