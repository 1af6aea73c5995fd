import { describe, expect, it } from 'vitest';
import { parseReceiverAllowList, receiverAddressProblem } from '../../lib/receiver-address';

describe('which webhook receiver addresses may be reached', () => {
  const none = parseReceiverAllowList(undefined);
  it.each(['8.8.8.8', '2001:4860:4860::8888', '93.184.216.34'])('public %s: reached', (address) => {
    expect(receiverAddressProblem(address, none)).toBeUndefined();
  });
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    'fd00::1',
    'fe80::1',
    '::ffff:10.0.0.1',
    '224.0.0.1',
  ])('%s: refused unless allowed', (address) => {
    expect(receiverAddressProblem(address, none)).toMatch(/webhooks reach public addresses only/);
    expect(receiverAddressProblem(address, parseReceiverAllowList('true'))).toBeUndefined();
  });
  it('a CIDR list allows its ranges only', () => {
    const allow = parseReceiverAllowList('127.0.0.0/8, 10.20.0.0/16');
    expect(receiverAddressProblem('127.0.0.2', allow)).toBeUndefined();
    expect(receiverAddressProblem('10.20.3.4', allow)).toBeUndefined();
    expect(receiverAddressProblem('10.21.0.1', allow)).toMatch(/private/);
    expect(receiverAddressProblem('::1', allow)).toMatch(/loopback/);
  });
});
