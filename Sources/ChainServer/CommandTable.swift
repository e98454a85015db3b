import ChainCore
import RESP

/// Every command the server knows, with Redis's arity convention: N means exactly N arguments
/// including the name, -N means at least N.
///
/// Raw values are the declaration order, 0 up: the metrics find a command's counters by it
/// (a dictionary keyed by the case hashed it with SipHash, about 200 instructions a command).
enum CommandID: Int, CaseIterable {
    case get, set, del, exists, mget, mset, incr, incrby, decr, decrby, append, strlen
    case ping, echo, info, command, hello, quit, auth, select, config, client, cluster
    case time, readonly, readwrite, memory, dbsize
    case type, touch, unlink, rename, renamenx, copy, flushall, flushdb
    case getdel, getset, setnx, msetnx, getrange, substr, setrange, incrbyfloat, lcs
    case scan, keys, randomkey
    case setex, psetex, getex, expire, pexpire, expireat, pexpireat, ttl, pttl, persist, expiretime, pexpiretime
    case multi, exec, discard, watch, unwatch
    case hset, hsetnx, hmset, hget, hmget, hgetall, hdel, hexists, hlen, hincrby, hincrbyfloat, hkeys, hvals, hstrlen, hscan
    case hrandfield
    case eval, evalsha, script
    case dump, restore
    case object, sort, sortRO

    var name: String { self == .sortRO ? "sort_ro" : "\(self)" }

    var arity: Int {
        switch self {
        case .get, .incr, .decr, .strlen, .echo: return 2
        case .set: return -3
        case .del, .exists, .mget: return -2
        case .mset: return -3
        case .incrby, .decrby, .append: return 3
        case .ping, .info, .command, .hello: return -1
        case .quit: return -1
        case .auth: return -2
        case .select: return 2
        case .config, .client, .cluster: return -2
        case .time, .readonly, .readwrite, .dbsize: return 1
        case .memory: return -2
        case .type: return 2
        case .touch, .unlink: return -2
        case .rename, .renamenx: return 3
        case .copy: return -3
        case .flushall, .flushdb: return -1
        case .getdel: return 2
        case .getset, .setnx, .incrbyfloat: return 3
        case .msetnx, .lcs: return -3
        case .getrange, .substr, .setrange: return 4
        case .scan: return -2
        case .keys: return 2
        case .randomkey: return 1
        case .setex, .psetex: return 4
        case .getex: return -2
        case .expire, .pexpire, .expireat, .pexpireat: return -3
        case .ttl, .pttl, .persist, .expiretime, .pexpiretime: return 2
        case .multi, .exec, .discard, .unwatch: return 1
        case .watch: return -2
        case .hset, .hmset: return -4
        case .hsetnx, .hincrby, .hincrbyfloat: return 4
        case .hget, .hexists, .hstrlen: return 3
        case .hmget, .hdel, .hscan: return -3
        case .hgetall, .hlen, .hkeys, .hvals: return 2
        case .hrandfield: return -2
        case .eval, .evalsha: return -3
        case .script: return -2
        case .dump: return 2
        case .restore: return -4
        case .object: return -2
        case .sort, .sortRO: return -2
        }
    }

    /// Writes change data (and, in a chain, go to the head).
    var isWrite: Bool {
        switch self {
        case .set, .del, .mset, .incr, .incrby, .decr, .decrby, .append: return true
        case .unlink, .rename, .renamenx, .copy, .flushall, .flushdb: return true
        case .getdel, .getset, .setnx, .msetnx, .setrange, .incrbyfloat: return true
        // GETEX may change the key's expiry: the head decides it, so it goes there even without options.
        case .setex, .psetex, .getex, .expire, .pexpire, .expireat, .pexpireat, .persist: return true
        case .hset, .hsetnx, .hmset, .hdel, .hincrby, .hincrbyfloat: return true
        case .eval, .evalsha, .restore, .sort: return true
        default: return false
        }
    }

    /// Commands on keys (the rest are about the connection or the server).
    var isDataCommand: Bool { keySpec.0 > 0 }

    /// Commands a transaction may hold: the key commands (`WATCH` names keys but is not one).
    var runsInTransaction: Bool { isDataCommand && self != .watch }

    /// The key arguments of `args`.
    /// The command's only key is its first argument (`keys` would return just `args[1]`).
    var hasOneKey: Bool {
        guard self != .eval && self != .evalsha && self != .sort else { return false }
        let (first, last, step) = keySpec
        return first == 1 && last == 1 && step == 1
    }

    func keys(_ args: [[UInt8]]) -> [[UInt8]] {
        if self == .eval || self == .evalsha {
            guard args.count > 3, let n = Int(String(decoding: args[2], as: UTF8.self)), n >= 0, 3 + n <= args.count else { return [] }
            return Array(args[3..<(3 + n)])
        }
        if self == .sort, let i = args.indices.dropFirst(2).last(where: { Wrapper.matches(args[$0], Array("store".utf8)) }), i + 1 < args.count {
            return [args[1], args[i + 1]]
        }
        let (first, last, step) = keySpec
        guard first > 0, args.count > first else { return [] }
        let end = last < 0 ? args.count + last : last
        return stride(from: first, through: end, by: step).map { args[$0] }
    }

    /// Flags as COMMAND reports them.
    var flags: [String] {
        if isWrite { return ["write", "denyoom"] }
        switch self {
        case .get, .exists, .mget, .strlen, .type, .touch, .getrange, .substr: return ["readonly", "fast"]
        case .ttl, .pttl, .expiretime, .pexpiretime: return ["readonly", "fast"]
        case .hget, .hmget, .hexists, .hlen, .hstrlen: return ["readonly", "fast"]
        case .hgetall, .hkeys, .hvals, .hscan, .hrandfield: return ["readonly"]
        case .lcs, .scan, .keys, .randomkey, .dump, .sortRO: return ["readonly"]
        case .object: return ["readonly"]
        case .memory: return ["readonly"]
        default: return ["fast", "stale", "loading"]
        }
    }

    /// Key positions (first, last, step) as COMMAND reports them.
    var keySpec: (Int, Int, Int) {
        switch self {
        case .get, .set, .incr, .incrby, .decr, .decrby, .append, .strlen: return (1, 1, 1)
        case .del, .exists, .mget, .touch, .unlink: return (1, -1, 1)
        case .type, .getdel, .getset, .setnx, .getrange, .substr, .setrange, .incrbyfloat: return (1, 1, 1)
        case .setex, .psetex, .getex, .expire, .pexpire, .expireat, .pexpireat: return (1, 1, 1)
        case .ttl, .pttl, .persist, .expiretime, .pexpiretime: return (1, 1, 1)
        case .dump, .restore, .sort, .sortRO: return (1, 1, 1)
        case .object: return (2, 2, 1)
        case .watch: return (1, -1, 1)
        case .hset, .hsetnx, .hmset, .hget, .hmget, .hgetall, .hdel, .hexists, .hlen, .hincrby, .hincrbyfloat, .hkeys, .hvals,
             .hstrlen, .hscan, .hrandfield: return (1, 1, 1)
        // The keys follow `numkeys` (`keys(_:)`); a script without keys has no chain to run at.
        case .eval, .evalsha: return (3, 3, 1)
        case .msetnx: return (1, -1, 2)
        case .lcs: return (1, 2, 1)
        case .rename, .renamenx, .copy: return (1, 2, 1)
        case .mset: return (1, -1, 2)
        case .memory: return (2, 2, 1)
        default: return (0, 0, 0)
        }
    }

    /// Lookup by name in any letter case, without building a String per command or hashing it:
    /// the name's length and first letter pick a bucket of a few names, compared in place
    /// (a dictionary lookup cost ~350 instructions a command, most of it hashing).
    static func lookup(_ name: [UInt8]) -> CommandID? {
        guard let bucket = NameBuckets.bucket(name) else { return nil }
        let table = nameBuckets
        var i = table.starts[bucket]
        let end = table.starts[bucket + 1]
        while i < end {
            if RESPWrappers.matches(table.names[i], name, at: 0) { return table.ids[i] }
            i += 1
        }
        return nil
    }

    /// Every command's lowercase name, grouped by (length, first letter).
    private struct NameBuckets {
        static let longest = 16
        var names: [[UInt8]] = []
        var ids: [CommandID] = []
        /// Bucket b holds `names[starts[b]..<starts[b + 1]]`.
        var starts: [Int] = []

        /// Letters and `_` fold to 0...31 (case ignored); lengths 1...16.
        static func bucket(_ name: [UInt8]) -> Int? {
            guard let first = name.first, name.count <= longest else { return nil }
            return name.count << 5 | Int(first & 31)
        }

        init() {
            let all = CommandID.allCases.map { (Array($0.name.lowercased().utf8), $0) }
                .compactMap { entry in Self.bucket(entry.0).map { ($0, entry) } }
                .sorted { $0.0 < $1.0 }
            let count = (Self.longest + 1) << 5
            starts = [Int](repeating: 0, count: count + 1)
            for (b, entry) in all {
                names.append(entry.0)
                ids.append(entry.1)
                starts[b + 1] += 1
            }
            for b in 0..<count { starts[b + 1] += starts[b] }
        }
    }

    private static let nameBuckets = NameBuckets()

    /// What a connection may send before it authenticated.
    static func allowedBeforeAuth(_ name: [UInt8]) -> Bool {
        switch lookup(name) {
        case .auth, .hello, .ping, .quit: return true
        default: return false
        }
    }

    func arityOK(_ count: Int) -> Bool {
        arity >= 0 ? count == arity : count >= -arity
    }

    /// Why the arguments are malformed beyond their count (nil: fine), checked before a command
    /// is routed by its keys.
    func malformed(_ args: [[UInt8]]) -> String? {
        switch self {
        case .memory:
            guard Wrapper.matches(args[1], Array("usage".utf8)) else {
                return "ERR chainstore answers only MEMORY USAGE key [SAMPLES count]"
            }
            guard args.count == 3 || (args.count == 5 && Wrapper.matches(args[3], Array("samples".utf8))) else {
                return "ERR syntax error: MEMORY USAGE key [SAMPLES count]"
            }
            return nil
        case .object:
            let sub = String(decoding: args[1].prefix(16), as: UTF8.self).uppercased()
            if sub == "HELP" { return args.count == 2 ? nil : "ERR wrong number of arguments for 'object|help' command" }
            guard ["ENCODING", "REFCOUNT", "IDLETIME", "FREQ"].contains(sub) else {
                return "ERR unknown subcommand '\(String(decoding: args[1].prefix(64), as: UTF8.self))'. Try OBJECT HELP."
            }
            guard args.count == 3 else { return "ERR wrong number of arguments for 'object|\(sub.lowercased())' command" }
            return nil
        case .flushall, .flushdb:
            guard args.count == 1 || (args.count == 2 && (Wrapper.matches(args[1], Array("async".utf8)) || Wrapper.matches(args[1], Array("sync".utf8)))) else {
                return "ERR syntax error: \(name.uppercased()) [ASYNC|SYNC]"
            }
            return nil
        case .eval, .evalsha:
            guard let n = Int(String(decoding: args[2], as: UTF8.self)), n >= 0 else { return "ERR value is not an integer or out of range" }
            guard 3 + n <= args.count else { return "ERR Number of keys can't be greater than number of args" }
            guard n >= 1 else { return "ERR chainstore runs scripts only on keys: numkeys must be at least 1" }
            return nil
        default: return nil
        }
    }
}

/// Internal command wrappers (see `Server.execute`).
enum Wrapper {
    static let forward = Array("cs.fwd".utf8)
    static let request = Array("cs.req".utf8)
    /// Like `cs.req`, for a retry: the head first looks for the recorded result.
    static let retry = Array("cs.retry".utf8)

    /// What a session's parser takes off the front of a request (`RESPCommand.marked`: `cs.fwd`;
    /// `RESPCommand.tag`: word 0 `cs.req`, word 1 `cs.retry`). Requests built otherwise (inline
    /// commands, commands routed again) keep them as arguments, which `Server.execute` reads too.
    static let parsed = RESPWrappers(markers: [forward], tags: [request, retry])

    /// Whether `arg` is `name` (lowercase) in any case.
    static func matches(_ arg: [UInt8], _ name: [UInt8]) -> Bool {
        arg.count == name.count && RESPWrappers.matches(name, arg, at: 0)
    }

    /// Whether `arg` can be a wrapper at all (every one starts with `cs.`): most commands are
    /// not, and skip the comparisons with each wrapper's name.
    static func mayBeWrapper(_ arg: [UInt8]) -> Bool {
        arg.count > 3 && arg[0] | 0x20 == UInt8(ascii: "c") && arg[1] | 0x20 == UInt8(ascii: "s") && arg[2] == UInt8(ascii: ".")
    }

    /// A tag's client or request id: decimal digits only, at most `UInt64.max`. (Read from
    /// the bytes: through a `String` it cost about 550 instructions per id.)
    static func id(_ b: [UInt8]) -> UInt64? { RESPWrappers.decimalID(b, from: 0, to: b.count) }
}
