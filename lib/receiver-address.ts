import ipaddr from 'ipaddr.js';

/**
 * Which webhook receivers may be reached: public unicast addresses always; private, loopback, link-local
 * (cloud metadata at 169.254.169.254), unique-local and other special ranges only when allowed
 * (SCAIVAULT_WEBHOOK_ALLOW_PRIVATE: `true`, or a comma-separated list of CIDRs).
 */
export type ReceiverAllowList = 'all' | Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;

export function parseReceiverAllowList(value: string | undefined): ReceiverAllowList {
  if (!value || value === 'false') return [];
  if (value === 'true') return 'all';
  return value.split(',').map((cidr) => ipaddr.parseCIDR(cidr.trim()));
}

/** Why the receiver at this IP address may not be reached, or undefined when it may. */
export function receiverAddressProblem(address: string, allow: ReceiverAllowList): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress())
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  const range = parsed.range();
  if (range === 'unicast' || allow === 'all') return undefined;
  if (allow.some(([network, bits]) => network.kind() === parsed.kind() && parsed.match(network, bits)))
    return undefined;
  return (
    `the receiver's address ${parsed.toString()} is ${range}: ` +
    'webhooks reach public addresses only, unless SCAIVAULT_WEBHOOK_ALLOW_PRIVATE allows it'
  );
}
