import ChainCore
import Dispatch
import EventLoop
import RESP
import Storage

/// `SCAN`, `KEYS` and `RANDOMKEY`: the node's keys as Redis Cluster clients expect them per
/// node. In a cluster a node answers for the chains it is the tail of — the committed data it
/// serves reads from — so every key of the cluster is on exactly one node's list, and a client
/// that scans every node of `CLUSTER NODES` (redis-py's `scan_iter`) sees each key once.
/// `DBSIZE` counts the same keys. A standalone node answers for all its keys.
extension Server {
    /// The slot ranges this node answers keyspace commands for, or the error to answer.
    func keyspaceRanges() -> Result<[Range<Int>], KeyspaceRefusal> {
        guard let node = chainNode else { return .success([0..<HashSlot.count]) }
        guard let config = node.config else { return .failure(.noConfiguration) }
        guard node.leaseValid else { return .failure(.noLease) }
        return .success(config.chains.filter { $0.tail == node.me }.map { config.slots(of: $0.id) })
    }

    enum KeyspaceRefusal: Error {
        case noConfiguration, noLease

        var message: String {
            switch self {
            case .noConfiguration: return "CLUSTERDOWN chainstore: this node has no configuration from the master yet"
            case .noLease: return "CLUSTERDOWN chainstore: this node has no valid lease from the master; it serves nothing until it reaches the master again"
            }
        }
    }

    /// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. The cursor is the next (slot, hash
    /// bucket) of the store's key order plus one, 0 to start and when done: a key present for
    /// the whole iteration is returned at least once (a bucket is always finished within one
    /// call); about COUNT keys (and the rest of the last bucket) are read per call, off the
    /// event loop (`answerOffLoop`).
    func scanKeys(_ args: [[UInt8]], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        guard let cursor = UInt64(String(decoding: args[1], as: UTF8.self)), cursor <= UInt64(HashSlot.count) << 16 else {
            out.error("ERR invalid cursor")
            return .answered
        }
        var count = 10
        var pattern: GlobPattern?
        var typeFilter: String?
        var i = 2
        while i < args.count {
            guard i + 1 < args.count else { out.error("ERR syntax error"); return .answered }
            switch String(decoding: args[i], as: UTF8.self).uppercased() {
            case "MATCH": pattern = GlobPattern(args[i + 1])
            case "COUNT":
                guard let n = Int(String(decoding: args[i + 1], as: UTF8.self)), n >= 1 else {
                    out.error(Int(String(decoding: args[i + 1], as: UTF8.self)) == nil ? "ERR value is not an integer or out of range" : "ERR syntax error")
                    return .answered
                }
                count = min(n, Self.scanMaxCount)
            case "TYPE": typeFilter = String(decoding: args[i + 1], as: UTF8.self).lowercased()
            default:
                out.error("ERR syntax error")
                return .answered
            }
            i += 2
        }
        let ranges: [Range<Int>]
        switch keyspaceRanges() {
        case let .failure(why):
            out.error(why.message)
            return .answered
        case let .success(r): ranges = r
        }
        let start = cursor == 0 ? 0 : Int(cursor - 1)
        let store = data.store
        let cursors = scanCursors
        let now = wallMillis()
        return answerOffLoop(session) { [count, pattern, typeFilter] out in
        var keys: [[UInt8]] = []
        var next: UInt64 = 0
        var examined = 0
        do {
            // The cursor the previous call of this scan left (one memtable sort per scan, not
            // per call).
            let (c, madeNanos) = try cursors.take(at: cursor == 0 ? nil : Self.scanPosition(cursor), store: store)
            for r in ranges where r.upperBound << 16 > start {
                let from = max(start, r.lowerBound << 16)
                var lastBucket = -1
                var stopped = false
                try c.scan(prefix: [KeyLayout.dataTag], from: Self.bucketKey(from)) { k, v in
                    guard k.count >= KeyLayout.dataPrefixLength else { return true }
                    let bucket = Int(k[1]) << 24 | Int(k[2]) << 16 | Int(k[3]) << 8 | Int(k[4])
                    guard bucket >> 16 < r.upperBound else { return false }
                    if examined >= count && bucket != lastBucket {
                        next = UInt64(bucket) + 1
                        stopped = true
                        return false
                    }
                    examined += 1
                    lastBucket = bucket
                    guard StoredValue.isLive(raw: v, nowMs: now) else { return true }
                    if let typeFilter, (StoredValue(raw: v)?.type.name ?? "string") != typeFilter { return true }
                    let user = Array(k[KeyLayout.dataPrefixLength...])
                    if pattern.map({ $0.matchesEverything || $0.matches(user) }) ?? true { keys.append(user) }
                    return true
                }
                if stopped { break }
            }
            if next != 0 { cursors.park(c, madeNanos: madeNanos, at: Self.scanPosition(next)) }
        } catch {
            return out.error("ERR store read failed: \(error)")
        }
        out.arrayHeader(2)
        out.bulk(String(next))
        out.arrayHeader(keys.count)
        for k in keys { out.bulk(k) }
        }
    }

    static let scanMaxCount = 10_000

    /// Where `ScanCursors` files a `SCAN` that continues at `cursor`.
    static func scanPosition(_ cursor: UInt64) -> [UInt8] { Array("scan:\(cursor)".utf8) }

    /// The store key where (slot, bucket) `position` (slot << 16 | bucket) begins.
    static func bucketKey(_ position: Int) -> [UInt8] {
        [KeyLayout.dataTag, UInt8(position >> 24 & 0xff), UInt8(position >> 16 & 0xff), UInt8(position >> 8 & 0xff), UInt8(position & 0xff)]
    }

    /// KEYS pattern: every matching key, found on a store snapshot off the event loop (a whole
    /// keyspace walk would stall every other client); later commands of the connection wait.
    func matchingKeys(_ pattern: [UInt8], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        let ranges: [Range<Int>]
        switch keyspaceRanges() {
        case let .failure(why):
            out.error(why.message)
            return .answered
        case let .success(r): ranges = r
        }
        let store = data.store
        let snapshot = store.snapshot()
        let glob = GlobPattern(pattern)
        return answerOffLoop(session) { out in
            var keys: [[UInt8]] = []
            do throws(StoreError) {
                try Self.walkUserKeys(ranges, in: store, at: snapshot) { user in
                    if glob.matchesEverything || glob.matches(user) { keys.append(user) }
                }
            } catch {
                return out.error("ERR store read failed: \(error)")
            }
            out.arrayHeader(keys.count)
            for k in keys { out.bulk(k) }
        }
    }

    /// Calls `body` with every user key of `ranges` (slot ranges) in `store` at `snapshot` that
    /// has not expired by `now`. One cursor for all the ranges: each new iterator of a RocksDB
    /// store sorts its hashed memtable, and a node is the tail of several chains.
    static func walkUserKeys(_ ranges: [Range<Int>], in store: any KVStore, at snapshot: StoreSnapshot, now: UInt64 = wallMillis(),
                             _ body: ([UInt8]) -> Void) throws(StoreError) {
        let cursor = try store.makeCursor(at: snapshot)
        for r in ranges where !r.isEmpty {
            try cursor.scan(prefix: [KeyLayout.dataTag], from: KeyLayout.slotPrefix(r.lowerBound)) { k, v in
                guard k.count >= KeyLayout.dataPrefixLength, Int(k[1]) << 8 | Int(k[2]) < r.upperBound else { return false }
                guard StoredValue.isLive(raw: v, nowMs: now) else { return true }
                body(Array(k[KeyLayout.dataPrefixLength...]))
                return true
            }
        }
    }

    /// How many user keys of `ranges` in `store` at `snapshot` have not expired by `now`, and how
    /// many of those have a time to live (`DBSIZE`, `INFO keyspace`): one cursor, as above, and
    /// the bytes read where the store keeps them (no arrays per key).
    static func countUserKeys(_ ranges: [Range<Int>], in store: any KVStore, at snapshot: StoreSnapshot,
                              now: UInt64 = wallMillis()) throws(StoreError) -> (keys: Int, expiring: Int) {
        let cursor = try store.makeCursor(at: snapshot)
        var keys = 0
        var expiring = 0
        for r in ranges where !r.isEmpty {
            try cursor.scanBytes(prefix: [KeyLayout.dataTag], from: KeyLayout.slotPrefix(r.lowerBound)) { k, v in
                guard k.count >= KeyLayout.dataPrefixLength, Int(k[1]) << 8 | Int(k[2]) < r.upperBound else { return false }
                switch StoredValue.liveness(raw: v, nowMs: now) {
                case .expired: break
                case .live: keys += 1
                case .expiring: keys += 1; expiring += 1
                }
                return true
            }
        }
        return (keys, expiring)
    }

    /// RANDOMKEY: the first key at or after a random (slot, bucket) of a random range this node
    /// answers for, wrapping around; a seek or two, never a walk (off the loop all the same).
    func randomKey(session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        let ranges: [Range<Int>]
        switch keyspaceRanges() {
        case let .failure(why):
            out.error(why.message)
            return .answered
        case let .success(r): ranges = r.filter { !$0.isEmpty }
        }
        guard !ranges.isEmpty else {
            out.null()
            return .answered
        }
        let store = data.store
        let now = wallMillis()
        return answerOffLoop(session) { out in
        let first = Int.random(in: 0..<ranges.count)
        do {
            // One cursor for every range tried (each new iterator sorts the hashed memtable).
            let cursor = try store.makeCursor()
            for step in 0...ranges.count {
                let r = ranges[(first + step) % ranges.count]
                // The first range is entered at a random point; coming back to it, from its start.
                let from = step == 0 ? Int.random(in: (r.lowerBound << 16)..<(r.upperBound << 16)) : r.lowerBound << 16
                var found: [UInt8]?
                try cursor.scan(prefix: [KeyLayout.dataTag], from: Self.bucketKey(from)) { k, v in
                    guard k.count >= KeyLayout.dataPrefixLength, Int(k[1]) << 8 | Int(k[2]) < r.upperBound else { return false }
                    guard StoredValue.isLive(raw: v, nowMs: now) else { return true }
                    found = Array(k[KeyLayout.dataPrefixLength...])
                    return false
                }
                if let found { return out.bulk(found) }
            }
        } catch {
            return out.error("ERR store read failed: \(error)")
        }
        out.null()
        }
    }

    /// Answers `session` with what `work` writes, run on a background queue: every walk of the
    /// store in key order goes there, because RocksDB sorts this node's hash-bucketed memtable
    /// to build such an iterator (about 0.6 s for a million entries), which must not hold the
    /// event loop. The connection's later commands wait for the answer.
    func answerOffLoop(_ session: ClientSession, _ work: @escaping @Sendable (inout RESPWriter) -> Void) -> CommandOutcome {
        let slot = reserveSlot(for: session, chain: nil, at: chainNode?.me ?? config.nodeID)
        let bound = LoopBound(self, loop: loop)
        let version = session.protocolVersion
        Self.storeWalks.async {
            var out = RESPWriter(version: version)
            work(&out)
            let bytes = out.bytes
            bound.submit { $0.fillSlot(slot, bytes: bytes) }
        }
        return .deferred(slot)
    }

    static let storeWalks = DispatchQueue(label: "chainstore.store-walks")
}
