/// The files of a backup (`chainctl backup`): one file per chain holding the chain's stored
/// keys as its tail had them at one instant, and a manifest naming each file with its checksum
/// and content digest. Pure: the tools read and write the bytes.
///
/// A chain file is `magic`, then records, each `u32 key length, key, u32 value length, value`
/// (big-endian lengths), with keys and values exactly as the store holds them (data keys and
/// hash field keys, `KeyLayout`), in store order: all data keys, then all field keys. A node
/// answers `CS.BACKUP READ` with a run of such records, so the tool appends them as they come.
public enum BackupFormat {
    public static let magic: [UInt8] = Array("chainstore-backup-chain 1\n".utf8)
    public static let manifestName = "manifest.json"
    public static let formatVersion = 1
    /// Longest key or value a record may claim (a corrupt length must not make a reader
    /// allocate gigabytes).
    public static let maxFieldBytes = 1 << 30

    public static func chainFileName(_ chain: Int) -> String {
        let n = String(chain)
        return "chain-" + String(repeating: "0", count: max(0, 4 - n.count)) + n + ".data"
    }

    public static func appendRecord<K: Collection, V: Collection>(key: K, value: V, to out: inout [UInt8])
        where K.Element == UInt8, V.Element == UInt8 {
        appendLength(key.count, to: &out)
        out.append(contentsOf: key)
        appendLength(value.count, to: &out)
        out.append(contentsOf: value)
    }

    static func appendLength(_ n: Int, to out: inout [UInt8]) {
        let v = UInt32(n)
        out.append(UInt8(v >> 24))
        out.append(UInt8((v >> 16) & 0xff))
        out.append(UInt8((v >> 8) & 0xff))
        out.append(UInt8(v & 0xff))
    }

    public enum ReadError: Error, Equatable, CustomStringConvertible {
        case badMagic
        case truncated(offset: Int)
        case oversized(offset: Int, length: Int)
        case notChainData(offset: Int)

        public var description: String {
            switch self {
            case .badMagic: return "does not start like a chainstore backup chain file"
            case let .truncated(o): return "ends inside a record (at byte \(o))"
            case let .oversized(o, n): return "claims a \(n)-byte field at byte \(o)"
            case let .notChainData(o): return "holds a key that is no chain data at byte \(o)"
            }
        }
    }

    /// Splits a chain file into records as its bytes arrive (a file is read in chunks).
    public struct RecordReader {
        private var buffer: [UInt8] = []
        private var start = 0
        /// Bytes of the file consumed so far (for error positions).
        public private(set) var offset = 0
        private var sawMagic = false

        public init() {}

        /// Adds the file's next bytes.
        public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
            if start > 0 && start >= buffer.count / 2 {
                buffer.removeFirst(start)
                start = 0
            }
            buffer.append(contentsOf: bytes)
        }

        /// The next complete record, nil when the bytes fed so far hold no complete one.
        public mutating func next() throws(ReadError) -> (key: [UInt8], value: [UInt8])? {
            if !sawMagic {
                guard buffer.count - start >= magic.count else { return nil }
                guard buffer[start..<(start + magic.count)].elementsEqual(magic) else { throw .badMagic }
                start += magic.count
                offset += magic.count
                sawMagic = true
            }
            guard let k = try field(at: start) else { return nil }
            guard let v = try field(at: start + 4 + k.count) else { return nil }
            guard KeyLayout.slot(ofSlotKey: k) != nil else { throw .notChainData(offset: offset) }
            let used = 8 + k.count + v.count
            start += used
            offset += used
            return (k, v)
        }

        /// Call after the last bytes: throws if they end inside a record (or before the magic).
        public func finish() throws(ReadError) {
            if !sawMagic { throw buffer.count - start == 0 ? .truncated(offset: 0) : .badMagic }
            if buffer.count > start { throw .truncated(offset: offset) }
        }

        private func field(at i: Int) throws(ReadError) -> [UInt8]? {
            guard buffer.count - i >= 4 else { return nil }
            let n = Int(buffer[i]) << 24 | Int(buffer[i + 1]) << 16 | Int(buffer[i + 2]) << 8 | Int(buffer[i + 3])
            guard n <= maxFieldBytes else { throw .oversized(offset: offset + (i - start), length: n) }
            guard buffer.count - i - 4 >= n else { return nil }
            return Array(buffer[(i + 4)..<(i + 4 + n)])
        }
    }
}

/// `manifest.json`: what a backup holds. Written last (to a temporary name, then renamed), so a
/// directory with a manifest is a complete backup.
public struct BackupManifest: Codable, Sendable, Equatable {
    public struct Chain: Codable, Sendable, Equatable {
        public var id: Int
        public var file: String
        /// The node whose store the snapshot came from (the chain's tail then) and the epoch of
        /// the configuration in which it was the tail.
        public var node: String
        public var epoch: UInt64
        /// The chain's last applied update in the snapshot.
        public var applied_seq: UInt64
        public var applied_epoch: UInt64
        /// The node's wall clock when the snapshot was taken (Unix ms).
        public var taken_at_ms: UInt64
        public var keys: Int
        public var records: Int
        public var bytes: Int
        public var sha256: String
        public var digest: String

        public init(id: Int, file: String, node: String, epoch: UInt64, applied_seq: UInt64, applied_epoch: UInt64,
                    taken_at_ms: UInt64, keys: Int, records: Int, bytes: Int, sha256: String, digest: String) {
            self.id = id
            self.file = file
            self.node = node
            self.epoch = epoch
            self.applied_seq = applied_seq
            self.applied_epoch = applied_epoch
            self.taken_at_ms = taken_at_ms
            self.keys = keys
            self.records = records
            self.bytes = bytes
            self.sha256 = sha256
            self.digest = digest
        }
    }

    public var format: Int
    public var chainstore_version: String
    /// The configuration epoch when the backup started.
    public var epoch: UInt64
    public var started_at: String
    public var finished_at: String
    public var chains: [Chain]

    public init(format: Int = BackupFormat.formatVersion, chainstore_version: String, epoch: UInt64, started_at: String,
                finished_at: String, chains: [Chain]) {
        self.format = format
        self.chainstore_version = chainstore_version
        self.epoch = epoch
        self.started_at = started_at
        self.finished_at = finished_at
        self.chains = chains
    }

    /// What is wrong with a manifest read from disk, or nil.
    public var problem: String? {
        if format != BackupFormat.formatVersion { return "format \(format) is not one this chainctl reads (\(BackupFormat.formatVersion))" }
        if chains.isEmpty { return "it lists no chains" }
        if chains.map(\.id) != Array(0..<chains.count) { return "its chains are not numbered 0..<\(chains.count)" }
        for c in chains where c.file != BackupFormat.chainFileName(c.id) {
            return "chain \(c.id) names file '\(c.file)', expected '\(BackupFormat.chainFileName(c.id))'"
        }
        return nil
    }
}
