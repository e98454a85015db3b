/// Redis commands chainstore does not implement, by family, so that a client gets an error that
/// says what is missing instead of "unknown command" (Docs/COMPATIBILITY.md has the table).
enum UnsupportedCommands {
    /// The family of a Redis command chainstore does not implement, nil if it is not one.
    static func family(of name: [UInt8]) -> String? {
        guard name.count <= 24 else { return nil }
        return byName[String(decoding: name, as: UTF8.self).lowercased()]
    }

    private static let families: [(String, [String])] = [
        ("lists", ["lpush", "rpush", "lpop", "rpop", "lrange", "llen", "lindex", "lset", "lrem", "ltrim", "linsert", "lpos",
                   "lmove", "blmove", "blpop", "brpop", "rpoplpush", "brpoplpush", "lpushx", "rpushx", "lmpop", "blmpop"]),
        ("sets", ["sadd", "srem", "smembers", "sismember", "smismember", "scard", "spop", "srandmember", "sinter", "sunion",
                  "sdiff", "sinterstore", "sunionstore", "sdiffstore", "smove", "sscan", "sintercard"]),
        ("sorted sets", ["zadd", "zrem", "zrange", "zrangebyscore", "zrevrange", "zrevrangebyscore", "zscore", "zincrby", "zcard",
                         "zcount", "zrank", "zrevrank", "zpopmin", "zpopmax", "bzpopmin", "bzpopmax", "zscan", "zunionstore",
                         "zinterstore", "zrangestore", "zmscore", "zrandmember", "zlexcount", "zrangebylex", "zremrangebyscore",
                         "zremrangebyrank", "zremrangebylex", "zdiff", "zinter", "zunion", "zmpop", "bzmpop"]),
        ("streams", ["xadd", "xread", "xrange", "xrevrange", "xlen", "xdel", "xtrim", "xgroup", "xreadgroup", "xack", "xclaim",
                     "xautoclaim", "xpending", "xinfo", "xsetid"]),
        ("keyspace commands", ["move", "migrate", "wait", "waitaof"]),
        ("publish/subscribe", ["publish", "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "pubsub", "spublish",
                               "ssubscribe", "sunsubscribe"]),
        ("scripting and functions", ["eval_ro", "evalsha_ro", "function", "fcall", "fcall_ro"]),
        ("bitmaps", ["setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro"]),
        ("HyperLogLog", ["pfadd", "pfcount", "pfmerge"]),
        ("geospatial indexes", ["geoadd", "geodist", "geohash", "geopos", "georadius", "georadiusbymember", "geosearch",
                                "geosearchstore"]),
    ]

    private static let byName: [String: String] = Dictionary(
        families.flatMap { family, names in names.map { ($0, family) } }, uniquingKeysWith: { a, _ in a })
}
