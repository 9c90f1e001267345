import { Conflict, Forbidden, Invalid, NotFound, type NimbusError } from '../common/errors.ts'

/**
 * Neutron's exceptions (neutron_lib/exceptions): the status, the `type`
 * clients see in `NeutronError.type`, and upstream's wording, because
 * clients and Tempest match on them.
 */
type Ctor = new (message: string, detail?: Record<string, unknown>) => NimbusError

function make(cls: Ctor, type: string, message: string): NimbusError {
  return new cls(message, { type })
}

export const notFound = (type: string, message: string): NimbusError => make(NotFound, type, message)
export const conflict = (type: string, message: string): NimbusError => make(Conflict, type, message)
export const invalid = (type: string, message: string): NimbusError => make(Invalid, type, message)

export const networkNotFound = (id: string) =>
  notFound('NetworkNotFound', `Network ${id} could not be found.`)
export const subnetNotFound = (id: string) => notFound('SubnetNotFound', `Subnet ${id} could not be found.`)
export const portNotFound = (id: string) => notFound('PortNotFound', `Port ${id} could not be found.`)
export const routerNotFound = (id: string) => notFound('RouterNotFound', `Router ${id} could not be found.`)
export const floatingIpNotFound = (id: string) =>
  notFound('FloatingIPNotFound', `Floating IP ${id} could not be found`)
export const securityGroupNotFound = (id: string) =>
  notFound('SecurityGroupNotFound', `Security group ${id} does not exist`)
export const securityGroupRuleNotFound = (id: string) =>
  notFound('SecurityGroupRuleNotFound', `Security group rule ${id} does not exist`)

/** `InvalidInput`: the operation's arguments do not make sense together. */
export const invalidInput = (message: string) =>
  invalid('InvalidInput', `Invalid input for operation: ${message}.`)

/** What the API layer raises for a malformed attribute (webob's HTTPBadRequest). */
export const badRequest = (message: string) => invalid('HTTPBadRequest', message)

export const invalidAttribute = (attr: string, reason: string) =>
  badRequest(`Invalid input for ${attr}. Reason: ${reason}.`)

export const policyNotAuthorized = (action: string) =>
  make(Forbidden, 'PolicyNotAuthorized', `(rule:${action}) is disallowed by policy`)

export const networkInUse = (id: string) =>
  conflict(
    'NetworkInUse',
    `Unable to complete operation on network ${id}. There are one or more ports still in use on the network.`,
  )

export const subnetInUse = (id: string) =>
  conflict(
    'SubnetInUse',
    `Unable to complete operation on subnet ${id}: One or more ports have an IP allocation from this subnet.`,
  )

export const ipGenerationFailure = (networkId: string) =>
  conflict('IpAddressGenerationFailure', `No more IP addresses available on network ${networkId}.`)

export const ipInUse = (networkId: string, ip: string) =>
  conflict(
    'IpAddressInUse',
    `Unable to complete operation for network ${networkId}. The IP address ${ip} is in use.`,
  )

export const macInUse = (networkId: string, mac: string) =>
  conflict(
    'MacAddressInUse',
    `Unable to complete operation for network ${networkId}. The mac address ${mac} is in use.`,
  )

export const overQuota = (resource: string) =>
  conflict('OverQuota', `Quota exceeded for resources: ['${resource}'].`)
