import ChainCore
import ChainSecurity

/// Messages between storage nodes. On the wire: a 4-byte big-endian length (of what follows),
/// a version byte, a type byte, then the payload.
///
/// Handshake (a fresh nonce on each side per connection, so a recorded handshake cannot be
/// replayed): the dialing node sends `hello`; the listening node answers `challenge` proving it
/// knows the cluster secret over both nonces; the dialer answers `auth` proving the same in the
/// other direction. Only then are `updates` and `ack` accepted.
public enum PeerFrame: Sendable, Equatable {
    public static func == (a: PeerFrame, b: PeerFrame) -> Bool {
        switch (a, b) {
        case let (.hello(n1, x1), .hello(n2, x2)): return n1 == n2 && x1 == x2
        case let (.challenge(n1, x1, p1), .challenge(n2, x2, p2)): return n1 == n2 && x1 == x2 && p1 == p2
        case let (.auth(p1), .auth(p2)): return p1 == p2
        case let (.updates(e1, c1, u1), .updates(e2, c2, u2)): return e1 == e2 && c1 == c2 && u1 == u2
        case let (.ack(e1, c1, s1), .ack(e2, c2, s2)): return e1 == e2 && c1 == c2 && s1 == s2
        case let (.error(m1), .error(m2)): return m1 == m2
        case let (.syncRequest(e1, c1, t1, h1), .syncRequest(e2, c2, t2, h2)): return e1 == e2 && c1 == c2 && t1 == t2 && h1 == h2
        case let (.syncSuffix(e1, c1, t1, a1, u1, l1), .syncSuffix(e2, c2, t2, a2, u2, l2)):
            return e1 == e2 && c1 == c2 && t1 == t2 && a1 == a2 && u1 == u2 && l1 == l2
        case let (.syncChunk(e1, c1, t1, s1, x1, l1), .syncChunk(e2, c2, t2, s2, x2, l2)):
            return e1 == e2 && c1 == c2 && t1 == t2 && s1 == s2 && l1 == l2 && x1.count == x2.count && zip(x1, x2).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.barrier(e1, c1, s1), .barrier(e2, c2, s2)): return e1 == e2 && c1 == c2 && s1 == s2
        case let (.turn(e1, s1), .turn(e2, s2)): return e1 == e2 && s1 == s2
        default: return false
        }
    }

    case hello(node: NodeID, nonce: [UInt8])
    case challenge(node: NodeID, nonce: [UInt8], proof: [UInt8])
    case auth(proof: [UInt8])
    /// Updates of one chain, in sequence order.
    case updates(epoch: Epoch, chain: ChainID, [Update])
    /// Cumulative acknowledgement: every update of the chain up to `seq` is persisted downstream.
    case ack(epoch: Epoch, chain: ChainID, seq: UInt64)
    /// The sender refuses the connection or a frame; it closes after sending this.
    case error(String)
    /// A joining node asks the chain's tail for the chain's data; `transfer` names this attempt;
    /// `have` is where the joiner's own copy of the chain ends (`LogPosition.empty`: none).
    case syncRequest(epoch: Epoch, chain: ChainID, transfer: UInt64, have: LogPosition)
    /// The tail's answer when the joiner's copy is a prefix of the chain's history: the updates
    /// after `after`, in order, in one or more frames; `last` ends it (see `CatchUp`).
    case syncSuffix(epoch: Epoch, chain: ChainID, transfer: UInt64, after: UInt64, updates: [Update], last: Bool)
    /// Part of a chain's data as of update `snapshot` (store keys and values: the chain's data
    /// keys, then its request records), for attempt `transfer`; `last` ends it.
    case syncChunk(epoch: Epoch, chain: ChainID, transfer: UInt64, snapshot: LogPosition, entries: [([UInt8], [UInt8])], last: Bool)
    /// "Everything up to `seq` is committed here; hold it before you take over": from an old
    /// tail that stepped down to the new tail (which serves reads only once it holds that much),
    /// and from a tail to its joiner as the sync point (the joiner reports being in sync only
    /// once it has persisted that much).
    case barrier(epoch: Epoch, chain: ChainID, seq: UInt64)
    /// A loop turn's updates and acknowledgements for every chain, in one frame: what would
    /// otherwise be an `updates` frame and an `ack` frame per chain. Sent only to a peer that
    /// announced it reads them (`PeerHandshake.Features.turnFrames`).
    case turn(epoch: Epoch, [TurnSection])

    /// One chain's part of a `turn` frame.
    public enum TurnSection: Sendable, Equatable {
        case updates(chain: ChainID, [Update])
        case ack(chain: ChainID, seq: UInt64)
    }

    /// 2: updates carry the epoch that assigned them; joins may catch up with a suffix.
    /// 3: user values carry a kind byte and an optional expiry (`StoredValue`); a node of
    /// version 2 would store and serve them as plain strings, so the two must not link.
    public static let version: UInt8 = 3
    /// Largest frame accepted (a batch of updates); bigger ones are a protocol error.
    public static let maxFrameBytes = 64 << 20

    enum Kind: UInt8 {
        case hello = 1, challenge = 2, auth = 3, updates = 4, ack = 5, error = 6, syncRequest = 7, syncChunk = 8, barrier = 9
        case syncSuffix = 10, turn = 11
    }

    /// In a `turn` frame, the kind byte of a section.
    enum SectionKind: UInt8 { case updates = 1, ack = 2 }

    public func encode(into w: inout ByteWriter) {
        let start = w.bytes.count
        // The length is patched below. (Updates and acknowledgements, a frame or two per write,
        // write their header in one step.)
        switch self {
        case let .updates(epoch, chain, updates):
            w.fields(maxBytes: 22) { f in
                f.u32(0); f.u8(Self.version); f.u8(Kind.updates.rawValue); f.u64(epoch); f.u32(UInt32(chain))
                f.u32(UInt32(updates.count))
            }
            for u in updates { Self.encodeUpdate(u, into: &w) }
        case let .ack(epoch, chain, seq):
            w.fields(maxBytes: 26) { f in
                f.u32(0); f.u8(Self.version); f.u8(Kind.ack.rawValue); f.u64(epoch); f.u32(UInt32(chain)); f.u64(seq)
            }
        default:
            w.u32(0)
            w.u8(Self.version)
            encodeBody(into: &w)
        }
        let len = UInt32(w.bytes.count - start - 4).bigEndian
        w.bytes.withUnsafeMutableBytes { $0.storeBytes(of: len, toByteOffset: start, as: UInt32.self) }
    }

    /// Every frame but updates and acknowledgements, after the length and version.
    private func encodeBody(into w: inout ByteWriter) {
        switch self {
        case let .hello(node, nonce):
            w.u8(Kind.hello.rawValue); w.string(node); w.blob(nonce)
        case let .challenge(node, nonce, proof):
            w.u8(Kind.challenge.rawValue); w.string(node); w.blob(nonce); w.blob(proof)
        case let .auth(proof):
            w.u8(Kind.auth.rawValue); w.blob(proof)
        case .updates, .ack:
            preconditionFailure("encoded by encode(into:)")
        case let .error(message):
            w.u8(Kind.error.rawValue); w.string(message)
        case let .syncRequest(epoch, chain, transfer, have):
            w.u8(Kind.syncRequest.rawValue); w.u64(epoch); w.u32(UInt32(chain)); w.u64(transfer); w.u64(have.seq); w.u64(have.epoch)
        case let .syncSuffix(epoch, chain, transfer, after, updates, last):
            w.u8(Kind.syncSuffix.rawValue); w.u64(epoch); w.u32(UInt32(chain)); w.u64(transfer); w.u64(after); w.u8(last ? 1 : 0)
            Self.encode(updates, into: &w)
        case let .syncChunk(epoch, chain, transfer, snap, entries, last):
            w.u8(Kind.syncChunk.rawValue); w.u64(epoch); w.u32(UInt32(chain)); w.u64(transfer); w.u64(snap.seq); w.u64(snap.epoch); w.u8(last ? 1 : 0)
            w.u32(UInt32(entries.count))
            for (k, v) in entries { w.blob(k); w.blob(v) }
        case let .barrier(epoch, chain, seq):
            w.u8(Kind.barrier.rawValue); w.u64(epoch); w.u32(UInt32(chain)); w.u64(seq)
        case let .turn(epoch, sections):
            w.u8(Kind.turn.rawValue); w.u64(epoch); w.u32(UInt32(sections.count))
            for section in sections {
                switch section {
                case let .updates(chain, updates):
                    Self.encodeUpdatesSection(chain: chain, count: updates.count, into: &w)
                    for u in updates { Self.encodeUpdate(u, into: &w) }
                case let .ack(chain, seq): Self.encodeAckSection(chain: chain, seq: seq, into: &w)
                }
            }
        }
    }

    public var encoded: [UInt8] {
        var w = ByteWriter()
        encode(into: &w)
        return w.bytes
    }

    /// Decodes one frame body (after the length field).
    public static func decode(_ body: ArraySlice<UInt8>) throws(WireError) -> PeerFrame {
        var spare = SpareLists()
        return try decode(body, reusing: &spare)
    }

    /// `decode`, taking the frame's lists from `spare` (lists a reader handed back) instead of
    /// allocating them.
    static func decode(_ body: ArraySlice<UInt8>, reusing spare: inout SpareLists) throws(WireError) -> PeerFrame {
        var r = ByteReader(body)
        let v = try r.u8()
        guard v == version else { throw .badVersion(v) }
        let t = try r.u8()
        guard let kind = Kind(rawValue: t) else { throw .unknownType(t) }
        let frame: PeerFrame
        switch kind {
        case .hello: frame = .hello(node: try r.string(), nonce: try r.blob(max: 64))
        case .challenge: frame = .challenge(node: try r.string(), nonce: try r.blob(max: 64), proof: try r.blob(max: 64))
        case .auth: frame = .auth(proof: try r.blob(max: 64))
        case .updates:
            let epoch = try r.u64()
            let chain = ChainID(try r.u32())
            frame = .updates(epoch: epoch, chain: chain, try decodeUpdates(&r, &spare))
        case .ack: frame = .ack(epoch: try r.u64(), chain: ChainID(try r.u32()), seq: try r.u64())
        case .error: frame = .error(try r.string(max: 65536))
        case .syncRequest:
            let epoch = try r.u64(), chain = ChainID(try r.u32()), transfer = try r.u64()
            frame = .syncRequest(epoch: epoch, chain: chain, transfer: transfer, have: LogPosition(seq: try r.u64(), epoch: try r.u64()))
        case .syncSuffix:
            let epoch = try r.u64(), chain = ChainID(try r.u32()), transfer = try r.u64(), after = try r.u64()
            let last = try r.u8() == 1
            frame = .syncSuffix(epoch: epoch, chain: chain, transfer: transfer, after: after, updates: try decodeUpdates(&r, &spare), last: last)
        case .syncChunk:
            let epoch = try r.u64(), chain = ChainID(try r.u32()), transfer = try r.u64()
            let snap = LogPosition(seq: try r.u64(), epoch: try r.u64())
            let last = try r.u8() == 1
            let n = Int(try r.u32())
            guard n <= r.remaining else { throw .malformed("entry count \(n)") }
            var entries: [([UInt8], [UInt8])] = []
            entries.reserveCapacity(n)
            for _ in 0..<n { entries.append((try r.blob(), try r.blob())) }
            frame = .syncChunk(epoch: epoch, chain: chain, transfer: transfer, snapshot: snap, entries: entries, last: last)
        case .barrier: frame = .barrier(epoch: try r.u64(), chain: ChainID(try r.u32()), seq: try r.u64())
        case .turn:
            let epoch = try r.u64()
            let n = Int(try r.u32())
            guard n <= r.remaining else { throw .malformed("section count \(n)") }
            var sections = spare.takeSections()
            sections.reserveCapacity(n)
            for _ in 0..<n {
                let kind = try r.u8()
                let chain = ChainID(try r.u32())
                switch SectionKind(rawValue: kind) {
                case .updates: sections.append(.updates(chain: chain, try decodeUpdates(&r, &spare)))
                case .ack: sections.append(.ack(chain: chain, seq: try r.u64()))
                case nil: throw .malformed("section kind \(kind)")
                }
            }
            frame = .turn(epoch: epoch, sections)
        }
        guard r.remaining == 0 else { throw .malformed("\(r.remaining) trailing bytes") }
        return frame
    }

    private static func encode(_ updates: [Update], into w: inout ByteWriter) {
        w.u32(UInt32(updates.count))
        for u in updates { encodeUpdate(u, into: &w) }
    }

    /// One update as an `updates` frame carries it (after the frame's update count).
    public static func encodeUpdate(_ u: Update, into w: inout ByteWriter) {
        if encodeSmallPut(u, into: &w) { return }
        w.fields(maxBytes: 37) { f in
            f.u64(u.seq)
            f.u64(u.epoch)
            if let t = u.tag { f.u8(1); f.u64(t.client); f.u64(t.request) } else { f.u8(0) }
            f.u32(UInt32(u.reply.count))
        }
        w.bytes.append(contentsOf: u.reply)
        w.u32(UInt32(u.mutations.count))
        for m in u.mutations {
            switch m {
            case .put, .putPair:
                let (k, v) = m.putBytes!
                w.fields(maxBytes: 5) { f in f.u8(1); f.u32(UInt32(k.count)) }
                w.bytes.append(contentsOf: k)
                w.blob(v)
            case let .delete(k): w.u8(2); w.blob(k)
            case .clearChain: w.u8(3)
            case let .putField(k, f, v): w.u8(4); w.blob(k); w.blob(f); w.blob(v)
            case let .deleteField(k, f): w.u8(5); w.blob(k); w.blob(f)
            }
        }
    }

    /// The start of a `turn` frame; its sections follow, then `finishTurnFrame` (given the
    /// offset this returns) fills in the length and the section count.
    public static func startTurnFrame(epoch: Epoch, into w: inout ByteWriter) -> Int {
        let start = w.bytes.count
        w.fields(maxBytes: 18) { f in
            f.u32(0); f.u8(Self.version); f.u8(Kind.turn.rawValue); f.u64(epoch); f.u32(0)
        }
        return start
    }

    public static func finishTurnFrame(startingAt start: Int, sections: Int, in w: inout ByteWriter) {
        let len = UInt32(w.bytes.count - start - 4).bigEndian
        let count = UInt32(sections).bigEndian
        w.bytes.withUnsafeMutableBytes {
            $0.storeBytes(of: len, toByteOffset: start, as: UInt32.self)
            $0.storeBytes(of: count, toByteOffset: start + 14, as: UInt32.self)
        }
    }

    /// A `turn` frame's section header for `count` updates of `chain` (the updates follow,
    /// each as `encodeUpdate` writes it).
    public static func encodeUpdatesSection(chain: ChainID, count: Int, into w: inout ByteWriter) {
        w.fields(maxBytes: 9) { f in f.u8(SectionKind.updates.rawValue); f.u32(UInt32(chain)); f.u32(UInt32(count)) }
    }

    public static func encodeAckSection(chain: ChainID, seq: UInt64, into w: inout ByteWriter) {
        w.fields(maxBytes: 13) { f in f.u8(SectionKind.ack.rawValue); f.u32(UInt32(chain)); f.u64(seq) }
    }

    /// An `updates` frame of `count` updates already encoded one after another
    /// (`encodeUpdate`) in `body`: the same bytes as `PeerFrame.updates(…).encode(into:)`.
    public static func encodeUpdatesFrame(epoch: Epoch, chain: ChainID, count: Int, body: [UInt8], into w: inout ByteWriter) {
        let length = UInt32(1 + 1 + 8 + 4 + 4 + body.count)
        w.fields(maxBytes: 22) { f in
            f.u32(length); f.u8(Self.version); f.u8(Kind.updates.rawValue); f.u64(epoch); f.u32(UInt32(chain))
            f.u32(UInt32(count))
        }
        w.bytes.append(contentsOf: body)
    }

    /// The largest update `encodeSmallPut` writes through stack memory.
    private static let smallPutBytes = 512

    /// An update of one `put` (the commonest) of at most `smallPutBytes` encoded, written in one
    /// append: field by field it is seven appends of about 100 instructions each (callgrind).
    /// False, having written nothing, for any other update.
    private static func encodeSmallPut(_ u: Update, into w: inout ByteWriter) -> Bool {
        // Key and value read from raw memory (as slices, each was a retain and a release more).
        switch u.mutations.single {
        case let .put(k, v)?:
            return k.withUnsafeBytes { kb in v.withUnsafeBytes { vb in encodeSmallPut(u, kb, vb, into: &w) } }
        case let .putPair(kv)?:
            return kv.storage.withUnsafeBytes { s in
                encodeSmallPut(u, UnsafeRawBufferPointer(rebasing: s[0..<kv.keyCount]), UnsafeRawBufferPointer(rebasing: s[kv.valueStart...]), into: &w)
            }
        default: return false
        }
    }

    private static func encodeSmallPut(_ u: Update, _ k: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer, into w: inout ByteWriter) -> Bool {
        let size = 37 + u.reply.count + 4 + 1 + 4 + k.count + 4 + v.count
        guard size <= smallPutBytes else { return false }
        w.fields(maxBytes: smallPutBytes) { f in
            f.u64(u.seq)
            f.u64(u.epoch)
            if let t = u.tag { f.u8(1); f.u64(t.client); f.u64(t.request) } else { f.u8(0) }
            f.u32(UInt32(u.reply.count))
            f.bytes(u.reply)
            f.u32(1)
            f.u8(1)
            f.u32(UInt32(k.count))
            f.bytes(k)
            f.u32(UInt32(v.count))
            f.bytes(v)
        }
        return true
    }

    private static func decodeUpdates(_ r: inout ByteReader, _ spare: inout SpareLists) throws(WireError) -> [Update] {
        let n = Int(try r.u32())
        guard n <= r.remaining else { throw .malformed("update count \(n)") }
        var updates = spare.takeUpdates()
        updates.reserveCapacity(n)
        for _ in 0..<n {
            let seq = try r.u64()
            let epoch = try r.u64()
            var tag: RequestTag?
            if try r.u8() == 1 { tag = RequestTag(client: try r.u64(), request: try r.u64()) }
            let reply = try r.reply()
            let m = Int(try r.u32())
            guard m <= r.remaining else { throw .malformed("mutation count \(m)") }
            let muts: Mutations
            if m == 1 {
                // The commonest case, kept inline (no array).
                muts = Mutations(try decodeMutation(&r))
            } else {
                var all: [Mutation] = []
                all.reserveCapacity(m)
                for _ in 0..<m { all.append(try decodeMutation(&r)) }
                muts = Mutations(all)
            }
            updates.append(Update(seq: seq, epoch: epoch, mutations: muts, tag: tag, reply: reply))
        }
        return updates
    }

    private static func decodeMutation(_ r: inout ByteReader) throws(WireError) -> Mutation {
        switch try r.u8() {
        case 1: return .putPair(try r.blobPair())
        case 2: return .delete(key: try r.blob())
        case 3: return .clearChain
        case 4: return .putField(key: try r.blob(), field: try r.blob(), value: try r.blob())
        case 5: return .deleteField(key: try r.blob(), field: try r.blob())
        case let op: throw .malformed("mutation op \(op)")
        }
    }
}

/// Splits a byte stream into frames; feed it any split of the stream.
public struct PeerFrameDecoder: Sendable {
    private var buf: [UInt8] = []
    private var pos = 0
    private var spare = PeerFrame.SpareLists()
    public let maxFrameBytes: Int

    public init(maxFrameBytes: Int = PeerFrame.maxFrameBytes) { self.maxFrameBytes = maxFrameBytes }

    public mutating func append<C: Collection>(contentsOf bytes: C) where C.Element == UInt8 {
        if pos == buf.count { buf.removeAll(keepingCapacity: true); pos = 0 }
        else if pos > 65536 && pos * 2 > buf.count { buf.removeSubrange(0..<pos); pos = 0 }
        buf.append(contentsOf: bytes)
    }

    public mutating func withAppendBuffer<R>(_ fill: (inout [UInt8]) -> R) -> R {
        if pos == buf.count { buf.removeAll(keepingCapacity: true); pos = 0 }
        else if pos > 65536 && pos * 2 > buf.count { buf.removeSubrange(0..<pos); pos = 0 }
        return fill(&buf)
    }

    public mutating func next() throws(WireError) -> PeerFrame? {
        guard buf.count - pos >= 4 else { return nil }
        var len = 0
        for i in 0..<4 { len = len << 8 | Int(buf[pos + i]) }
        guard len <= maxFrameBytes else { throw .tooLarge(len) }
        guard len >= 2 else { throw .truncated }
        guard buf.count - pos - 4 >= len else { return nil }
        let body = buf[(pos + 4)..<(pos + 4 + len)]
        pos += 4 + len
        return try PeerFrame.decode(body, reusing: &spare)
    }

    /// Hands a frame from `next` back once its reader is done with it: its lists hold the next
    /// frames' contents instead of new ones.
    public mutating func recycle(_ frame: consuming PeerFrame) { spare.keep(frame) }
}

/// The proofs exchanged in the handshake, and what each side announces it reads.
public enum PeerHandshake {
    /// What a node reads beyond the frames every node of this protocol version reads. A node
    /// announces them in its handshake nonce (`nonce(features:)`): a node of an earlier release
    /// sends a random nonce, which announces nothing, and accepts any nonce, so old and new nodes
    /// link as before during a rolling upgrade. The nonce is covered by both proofs, so the
    /// announcement cannot be changed in transit.
    public struct Features: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// `PeerFrame.turn`.
        public static let turnFrames = Features(rawValue: 1)
        /// Everything this build reads.
        public static let all: Features = [.turnFrames]
    }

    /// Marks a nonce that announces features (its next byte holds them).
    static let featureMarker: [UInt8] = Array("CSPF".utf8)

    /// A fresh 32-byte nonce announcing `features`: the marker, the feature byte, then 27
    /// random bytes (216 bits: a recorded handshake still never repeats).
    public static func nonce(features: Features) -> [UInt8] {
        featureMarker + [features.rawValue] + Secrets.randomBytes(32 - featureMarker.count - 1)
    }

    /// What the peer that chose `nonce` announced (nothing for a random nonce).
    public static func features(ofNonce nonce: [UInt8]) -> Features {
        guard nonce.count == 32, Array(nonce.prefix(featureMarker.count)) == featureMarker else { return [] }
        return Features(rawValue: nonce[featureMarker.count])
    }

    /// What the listening node proves: it knows `secret`, bound to both nonces and its id.
    public static func serverProof(secret: [UInt8], clientNonce: [UInt8], serverNonce: [UInt8], server: NodeID) -> [UInt8] {
        proof(secret, [UInt8(ascii: "S")] + clientNonce + serverNonce + Array(server.utf8))
    }

    /// What the dialing node proves, bound to both nonces and its id.
    public static func clientProof(secret: [UInt8], clientNonce: [UInt8], serverNonce: [UInt8], client: NodeID) -> [UInt8] {
        proof(secret, [UInt8(ascii: "C")] + serverNonce + clientNonce + Array(client.utf8))
    }

    private static func proof(_ secret: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Secrets.hmacSHA256(key: secret, message: message)
    }
}
