// The smallest IPv4 host that answers a ping: given one Ethernet frame that
// arrived on our interface, the frame to send back, if any. It answers ARP
// requests for our address (RFC 826) and ICMP echo requests to it (RFC 792)
// and ignores everything else: other protocols, other addresses, IP
// fragments, IP options it would have to echo (it answers them without),
// frames whose lengths or checksums do not add up. Every read is bounds-checked
// against the frame's length: a frame is whatever a peer chose to send.

/** Ethernet header: destination, source, ethertype. */
const ETH_HEADER: u32 = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
/** ARP for IPv4 over Ethernet: htype, ptype, hlen, plen, oper, sha, spa, tha, tpa. */
const ARP_LENGTH: u32 = 28;
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;
const IPV4_MIN_HEADER: u32 = 20;
const IP_PROTOCOL_ICMP: u8 = 1;
/** IPv4's flags and fragment offset: more-fragments and the offset; a fragment is not answered. */
const IP_FRAGMENT_MASK: u16 = 0x3fff;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_HEADER: u32 = 8;
const REPLY_TTL: u8 = 64;

/** Our interface: its MAC (6 bytes) and IPv4 address (network byte order, as it is on the wire). */
export class PingHost {
  readonly mac: StaticArray<u8> = new StaticArray<u8>(6);

  constructor(
    mac: StaticArray<u8>,
    /** The address as its four bytes read as a big-endian number: 10.0.0.3 is 0x0a000003. */
    readonly ip: u32,
  ) {
    for (let i = 0; i < 6; i++) this.mac[i] = mac[i];
  }

  /**
   * The reply to the `length`-byte frame at `frame`, written at `reply`
   * (which has room for `length` bytes, or 42 for ARP, whichever is more);
   * its length, or 0 when the frame needs none.
   */
  answer(frame: usize, length: u32, reply: usize): u32 {
    if (length < ETH_HEADER) return 0;
    const ethertype = load16(frame + 12);
    if (ethertype == ETHERTYPE_ARP) return this.answerArp(frame, length, reply);
    if (ethertype == ETHERTYPE_IPV4) return this.answerIcmp(frame, length, reply);
    return 0;
  }

  private answerArp(frame: usize, length: u32, reply: usize): u32 {
    if (length < ETH_HEADER + ARP_LENGTH) return 0;
    const arp = frame + ETH_HEADER;
    if (load16(arp) != 1 || load16(arp + 2) != ETHERTYPE_IPV4) return 0;
    if (load<u8>(arp + 4) != 6 || load<u8>(arp + 5) != 4 || load16(arp + 6) != ARP_REQUEST) return 0;
    if (load32(arp + 24) != this.ip) return 0;
    const out = reply + ETH_HEADER;
    // The asker's hardware and protocol addresses, before `reply` (which may be `frame`) is written.
    const askerIp = load32(arp + 14);
    memory.copy(out + 18, arp + 8, 6);
    memory.copy(reply, arp + 8, 6);
    this.writeMac(reply + 6);
    store16(reply + 12, ETHERTYPE_ARP);
    store16(out, 1);
    store16(out + 2, ETHERTYPE_IPV4);
    store<u8>(out + 4, 6);
    store<u8>(out + 5, 4);
    store16(out + 6, ARP_REPLY);
    this.writeMac(out + 8);
    store32(out + 14, this.ip);
    store32(out + 24, askerIp);
    return ETH_HEADER + ARP_LENGTH;
  }

  private answerIcmp(frame: usize, length: u32, reply: usize): u32 {
    if (length < ETH_HEADER + IPV4_MIN_HEADER) return 0;
    const ip = frame + ETH_HEADER;
    const versionAndLength = load<u8>(ip);
    const headerLength = u32(versionAndLength & 0xf) << 2;
    if (versionAndLength >> 4 != 4 || headerLength < IPV4_MIN_HEADER) return 0;
    const totalLength = u32(load16(ip + 2));
    // The IP datagram may be shorter than the frame (Ethernet pads to 60 bytes), never longer.
    if (totalLength < headerLength + ICMP_HEADER || ETH_HEADER + totalLength > length) return 0;
    if (load16(ip + 6) & IP_FRAGMENT_MASK) return 0;
    if (load<u8>(ip + 9) != IP_PROTOCOL_ICMP || load32(ip + 16) != this.ip) return 0;
    if (checksum(ip, headerLength) != 0) return 0;
    const icmp = ip + headerLength;
    const icmpLength = totalLength - headerLength;
    if (load<u8>(icmp) != ICMP_ECHO_REQUEST || load<u8>(icmp + 1) != 0 || checksum(icmp, icmpLength) != 0) return 0;

    // The reply: the same identifier, sequence and data, from us to the asker, without IP options.
    const out = reply + ETH_HEADER;
    const outIcmp = out + IPV4_MIN_HEADER;
    const askerIp = load32(ip + 12);
    const identification = load16(ip + 4);
    memory.copy(outIcmp, icmp, icmpLength);
    memory.copy(reply, frame + 6, 6);
    this.writeMac(reply + 6);
    store16(reply + 12, ETHERTYPE_IPV4);
    store<u8>(out, 0x45);
    store<u8>(out + 1, 0);
    store16(out + 2, u16(IPV4_MIN_HEADER + icmpLength));
    store16(out + 4, identification);
    store16(out + 6, 0);
    store<u8>(out + 8, REPLY_TTL);
    store<u8>(out + 9, IP_PROTOCOL_ICMP);
    store16(out + 10, 0);
    store32(out + 12, this.ip);
    store32(out + 16, askerIp);
    store16(out + 10, checksum(out, IPV4_MIN_HEADER));
    store<u8>(outIcmp, ICMP_ECHO_REPLY);
    store16(outIcmp + 2, 0);
    store16(outIcmp + 2, checksum(outIcmp, icmpLength));
    return ETH_HEADER + IPV4_MIN_HEADER + icmpLength;
  }

  private writeMac(at: usize): void {
    for (let i = 0; i < 6; i++) store<u8>(at + i, this.mac[i]);
  }
}

/** The Internet checksum (RFC 1071) of `length` bytes: 0 over a block that holds its own correct checksum. */
function checksum(at: usize, length: u32): u16 {
  let sum: u32 = 0;
  let i: u32 = 0;
  for (; i + 1 < length; i += 2) sum += u32(load16(at + i));
  if (i < length) sum += u32(load<u8>(at + i)) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~u16(sum);
}

/** Network byte order. */
function load16(at: usize): u16 {
  return bswap<u16>(load<u16>(at));
}

function load32(at: usize): u32 {
  return bswap<u32>(load<u32>(at));
}

function store16(at: usize, value: u16): void {
  store<u16>(at, bswap<u16>(value));
}

function store32(at: usize, value: u32): void {
  store<u32>(at, bswap<u32>(value));
}
