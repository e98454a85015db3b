import ChainCore

/// What `WATCH` compares against: for each chain this node heads, a table of hash buckets of
/// user keys holding the write counter of the last update that changed a key in the bucket.
/// `WATCH` takes a token (this process, the configuration epoch, the counter); `EXEC` at the
/// head aborts if the epoch moved (another node may have been head in between, and its writes
/// are not in this table), or if any watched key's bucket was written after the token. Two keys
/// may share a bucket, so a transaction can abort for a write to another key — never the
/// reverse: no write to a watched key is missed.
final class WatchTable {
    struct Token: Equatable {
        var incarnation: UInt64
        var epoch: UInt64
        var counter: UInt64

        /// `incarnation:epoch:counter`, how a forwarded `CS.WATCH` answers.
        var text: String { "\(incarnation):\(epoch):\(counter)" }

        init(incarnation: UInt64, epoch: UInt64, counter: UInt64) {
            self.incarnation = incarnation
            self.epoch = epoch
            self.counter = counter
        }

        init?(text: String) {
            let parts = text.split(separator: ":").compactMap { UInt64($0) }
            guard parts.count == 3 else { return nil }
            self.init(incarnation: parts[0], epoch: parts[1], counter: parts[2])
        }
    }

    static let buckets = 16_384
    let incarnation = UInt64.random(in: 1...UInt64.max)
    private var counter: UInt64 = 0
    private var lastWrite: [ChainID: [UInt64]] = [:]

    func token(epoch: UInt64) -> Token { Token(incarnation: incarnation, epoch: epoch, counter: counter) }

    /// An update of `chain` changed `key`.
    func noteWrite(chain: ChainID, key: [UInt8]) {
        counter += 1
        lastWrite[chain, default: [UInt64](repeating: 0, count: Self.buckets)][Self.bucket(key)] = counter
    }

    /// Every key of `chain` changed (`FLUSHALL`).
    func noteCleared(chain: ChainID) {
        counter += 1
        lastWrite[chain] = [UInt64](repeating: counter, count: Self.buckets)
    }

    /// Whether a transaction watching `keys` of `chain` since `token` must abort.
    func mustAbort(chain: ChainID, keys: [[UInt8]], since token: Token, epoch: UInt64) -> Bool {
        guard token.incarnation == incarnation, token.epoch == epoch else { return true }
        guard let table = lastWrite[chain] else { return false }
        return keys.contains { table[Self.bucket($0)] > token.counter }
    }

    private static func bucket(_ key: [UInt8]) -> Int {
        var h: UInt32 = 2_166_136_261
        for b in key { h = (h ^ UInt32(b)) &* 16_777_619 }
        return Int(h) & (buckets - 1)
    }
}
