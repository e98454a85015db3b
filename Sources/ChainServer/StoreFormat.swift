import ChainCore
import Storage

/// The layout of user values in a node's store, and the one-time conversion of a store written
/// before values carried a kind byte (`StoredValue`). Runs at start, before the node serves.
public enum StoreFormat {
    /// 1: every data value is a `StoredValue`. (No key: raw values, the format before expiry.)
    public static let current: UInt8 = 1
    static let formatKey = KeyLayout.metaKey("node/value-format")
    /// The last data key converted, written in the same batch as the conversion, so a crash
    /// mid-way resumes after it instead of converting a value twice.
    static let progressKey = KeyLayout.metaKey("node/value-format-progress")

    public enum Failure: Error, CustomStringConvertible {
        case newer(UInt8)
        case store(StoreError)

        public var description: String {
            switch self {
            case let .newer(v): return "this data directory has value format \(v); this chainserver knows format \(StoreFormat.current) and older (run the newer build)"
            case let .store(e): return "converting the store's values: \(e)"
            }
        }
    }

    /// Brings `store` to the current format; returns how many values it converted.
    @discardableResult
    public static func upgrade(_ store: any KVStore, chunk: Int = 10_000) throws(Failure) -> Int {
        do {
            if let v = try store.get(formatKey) {
                guard let version = v.first, version <= current else { throw Failure.newer(v.first ?? 0) }
                if version == current { return 0 }
            }
            var from = try store.get(progressKey).map { $0 + [0] }
            var converted = 0
            while true {
                var batch = WriteBatch()
                var last: [UInt8]?
                var n = 0
                try store.scan(prefix: [KeyLayout.dataTag], from: from, at: nil) { k, v in
                    batch.put(k, [StoredValue.Kind.string.rawValue] + v)
                    last = k
                    n += 1
                    return n < chunk
                }
                guard let last else { break }
                batch.put(progressKey, last)
                try store.write(batch, sync: true)
                converted += n
                from = last + [0]
            }
            var done = WriteBatch()
            done.put(formatKey, [current])
            done.delete(progressKey)
            try store.write(done, sync: true)
            return converted
        } catch let e as Failure {
            throw e
        } catch let e as StoreError {
            throw .store(e)
        } catch {
            throw .store(.closed)
        }
    }
}
