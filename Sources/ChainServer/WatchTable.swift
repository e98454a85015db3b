import ChainCore

/// What `WATCH` compares against: for each chain this node heads, a table of hash buckets of
/// user keys holding the sequence of the last update that changed a key in the bucket.
/// `WATCH` takes a token (this process, the configuration epoch, and the chain's sequence up to
/// which the head knows updates committed); `EXEC` at the head aborts if the epoch moved (another
/// node may have been head in between, and its writes are not in this table), or if any watched
/// key's bucket was written by an update past the token. Committed, not applied: a client reads
/// the watched value at the tail, which may not show an update the head applied before the
/// token but had not seen commit — such an update must abort the transaction too. Two keys may
/// share a bucket, so a transaction can abort for a write to another key — never the reverse: no
/// write to a watched key is missed.
final class WatchTable {
    struct Token: Equatable {
        var incarnation: UInt64
        var epoch: UInt64
        /// The chain's committed sequence at the head (a standalone node: its write count).
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
    private var lastWrite: [ChainID: [UInt64]] = [:]

    /// Writes are noted only once some `WATCH` took a token: writes before the first token
    /// cannot abort anything, and most nodes never see a `WATCH`.
    private(set) var active = false

    func token(epoch: UInt64, committed: UInt64) -> Token {
        active = true
        return Token(incarnation: incarnation, epoch: epoch, counter: committed)
    }

    /// Update `seq` of `chain` changed `key`.
    func noteWrite(chain: ChainID, key: [UInt8], seq: UInt64) {
        guard active else { return }
        lastWrite[chain, default: [UInt64](repeating: 0, count: Self.buckets)][Self.bucket(key)] = seq
    }

    /// Update `seq` changed every key of `chain` (`FLUSHALL`).
    func noteCleared(chain: ChainID, seq: UInt64) {
        guard active else { return }
        lastWrite[chain] = [UInt64](repeating: seq, count: Self.buckets)
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
