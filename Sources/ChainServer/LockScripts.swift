import ChainCore
import ChainSecurity
import RESP
import Storage

/// `EVAL`/`EVALSHA` of the Lua scripts redis-py's `Lock` sends (release, extend, reacquire),
/// recognised by their text and run natively, at the key's chain head, as one update — so a
/// redis-py lock works against chainstore. chainstore has no Lua interpreter: any other script
/// is refused with an error that says so (Docs/COMPATIBILITY.md).
enum LockScript: CaseIterable {
    /// Deletes the lock if it holds the caller's token.
    case release
    /// Adds to the lock's time to live (or, with `ARGV[3] == "1"`, sets it) if it holds the
    /// caller's token and has a time to live.
    case extend
    /// Sets the lock's time to live if it holds the caller's token.
    case reacquire

    /// The script's text as redis-py 4.x and 5.x send it (compared without whitespace).
    private var text: String {
        switch self {
        case .release:
            return """
            local token = redis.call('get', KEYS[1])
            if not token or token ~= ARGV[1] then return 0 end
            redis.call('del', KEYS[1])
            return 1
            """
        case .extend:
            return """
            local token = redis.call('get', KEYS[1])
            if not token or token ~= ARGV[1] then return 0 end
            local expiration = redis.call('pttl', KEYS[1])
            if not expiration then expiration = 0 end
            if expiration < 0 then return 0 end
            local newttl = ARGV[2]
            if ARGV[3] == "0" then newttl = ARGV[2] + expiration end
            redis.call('pexpire', KEYS[1], newttl)
            return 1
            """
        case .reacquire:
            return """
            local token = redis.call('get', KEYS[1])
            if not token or token ~= ARGV[1] then return 0 end
            redis.call('pexpire', KEYS[1], ARGV[2])
            return 1
            """
        }
    }

    private static let known: [[UInt8]: LockScript] = Dictionary(uniqueKeysWithValues: allCases.map { (squeezed(Array($0.text.utf8)), $0) })

    private static func squeezed(_ b: [UInt8]) -> [UInt8] { b.filter { ![9, 10, 11, 12, 13, 32].contains($0) } }

    /// The lock script `body` is, if it is one.
    static func recognize(_ body: [UInt8]) -> LockScript? { known[squeezed(body)] }

    static let refusal = "ERR chainstore does not run Lua scripts; it recognises only the scripts of redis-py's Lock (Docs/COMPATIBILITY.md)"
}

/// `SCRIPT LOAD|EXISTS|FLUSH`: the scripts a client loaded on this node, by SHA-1, so that
/// `EVALSHA` can be turned into `EVAL` here before it goes to the key's head.
final class ScriptRegistry {
    private var bodies: [String: [UInt8]] = [:]

    func body(forSHA sha: [UInt8]) -> [UInt8]? { bodies[String(decoding: sha, as: UTF8.self).lowercased()] }

    func run(_ args: [[UInt8]], _ out: inout RESPWriter) {
        switch String(decoding: args[1], as: UTF8.self).uppercased() {
        case "LOAD" where args.count == 3:
            guard LockScript.recognize(args[2]) != nil else { return out.error(LockScript.refusal) }
            let sha = Secrets.sha1Hex(args[2])
            bodies[sha] = args[2]
            out.bulk(sha)
        case "EXISTS" where args.count >= 3:
            out.arrayHeader(args.count - 2)
            for sha in args.dropFirst(2) { out.integer(body(forSHA: sha) == nil ? 0 : 1) }
        case "FLUSH" where args.count <= 3:
            bodies.removeAll()
            out.ok()
        default:
            out.error("ERR chainstore answers SCRIPT LOAD script, SCRIPT EXISTS sha…, SCRIPT FLUSH")
        }
    }
}

/// Runs a recognised lock script on one key (`EVAL body 1 key token …`).
struct LockScripts {
    let data: any Keyspace

    func run(_ args: [[UInt8]], _ out: inout RESPWriter) throws(CommandError) {
        guard let script = LockScript.recognize(args[1]) else { return out.error(LockScript.refusal) }
        let key = args[3]
        let argv = Array(args.dropFirst(4))
        guard !argv.isEmpty, script == .release || argv.count >= 2, script != .extend || argv.count >= 3 else {
            return out.error("ERR wrong number of arguments for redis-py's lock script")
        }
        guard let lock = try data.stringEntry(key), Array(lock.payload) == argv[0] else { return out.integer(0) }
        switch script {
        case .release:
            try data.delete(key)
        case .extend, .reacquire:
            guard let ms = StringCommands.parseInt64(argv[1]) else { return out.error("ERR value is not an integer or out of range") }
            var ttl = ms
            if script == .extend {
                guard let t = lock.expiresAtMs else { return out.integer(0) }
                if argv[2] == Array("0".utf8) { ttl = ms &+ Int64(clamping: t) - Int64(clamping: data.nowMs) }
            }
            if ttl <= 0 { try data.delete(key) } else { data.putValue(key, lock.withExpiry(data.nowMs + UInt64(ttl))) }
        }
        out.integer(1)
    }
}
