import ChainCore
import ChainSecurity
import Foundation

/// Reads a backup directory back and proves it whole: the manifest parses and makes sense, and
/// every chain file has the size, SHA-256, records, key count and content digest it names, and
/// holds only keys of its own chain. Nothing is trusted before this passes.
enum BackupCheck {
    static func manifest(in dir: String) throws -> BackupManifest {
        let path = (dir as NSString).appendingPathComponent(BackupFormat.manifestName)
        guard FileManager.default.fileExists(atPath: path) else {
            throw CtlError("\(dir) holds no \(BackupFormat.manifestName): not a complete chainstore backup (an interrupted backup leaves none)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw CtlError("cannot read \(path)") }
        let m: BackupManifest
        do { m = try JSONDecoder().decode(BackupManifest.self, from: data) } catch {
            throw CtlError("backup is corrupt: \(BackupFormat.manifestName) does not parse (\(error))")
        }
        if let p = m.problem { throw CtlError("backup is corrupt: \(BackupFormat.manifestName): \(p)") }
        return m
    }

    /// Checks every file against `manifest`; returns the total number of keys.
    static func verify(_ manifest: BackupManifest, in dir: String) throws -> Int {
        var keys = 0
        for c in manifest.chains {
            let path = (dir as NSString).appendingPathComponent(c.file)
            guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int else {
                throw CtlError("backup is corrupt: \(c.file) is missing")
            }
            guard size == c.bytes else { throw CtlError("backup is corrupt: \(c.file) is \(size) bytes, the manifest says \(c.bytes)") }
            let hasher = SHA256Hasher()
            try BackupFiles.readChunks(path) { hasher.update($0) }
            let sha = hasher.finishHex()
            guard sha == c.sha256 else { throw CtlError("backup is corrupt: \(c.file) has SHA-256 \(sha), the manifest says \(c.sha256)") }
            let slots = Configuration.slots(of: c.id, chainCount: manifest.chains.count)
            var content = ContentDigest()
            var records = 0
            try BackupFiles.forEachRecord(path) { k, v in
                guard let slot = KeyLayout.slot(ofSlotKey: k), slots.contains(slot) else {
                    throw CtlError("backup is corrupt: \(c.file) holds a key of slot \(KeyLayout.slot(ofSlotKey: k) ?? -1), outside chain \(c.id)")
                }
                content.add(storeKey: k, value: v)
                records += 1
            }
            guard records == c.records, content.keys == c.keys, content.digestHex == c.digest else {
                throw CtlError("backup is corrupt: \(c.file) holds \(content.keys) keys (\(records) records, digest \(content.digestHex)); the manifest says \(c.keys) (\(c.records), \(c.digest))")
            }
            keys += c.keys
        }
        return keys
    }
}
