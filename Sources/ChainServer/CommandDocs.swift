import RESP

/// What `COMMAND`, `COMMAND INFO` and `COMMAND DOCS` say about each command, in Redis 7's shape:
/// ACL categories, key specifications (where the keys are and whether the command reads or
/// writes them) and a one-line summary with the command's group and the Redis version that
/// introduced it, so clients and `redis-cli` hints see what they expect.
extension CommandID {
    /// (summary, group, since)
    var docs: (String, String, String) {
        switch self {
        case .get: return ("Returns the string value of a key.", "string", "1.0.0")
        case .set: return ("Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "string", "1.0.0")
        case .del: return ("Deletes one or more keys.", "generic", "1.0.0")
        case .exists: return ("Determines whether one or more keys exist.", "generic", "1.0.0")
        case .mget: return ("Atomically returns the string values of one or more keys.", "string", "1.0.0")
        case .mset: return ("Atomically creates or modifies the string values of one or more keys.", "string", "1.0.1")
        case .incr: return ("Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "string", "1.0.0")
        case .incrby: return ("Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "string", "1.0.0")
        case .decr: return ("Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "string", "1.0.0")
        case .decrby: return ("Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "string", "1.0.0")
        case .append: return ("Appends a string to the value of a key. Creates the key if it doesn't exist.", "string", "2.0.0")
        case .strlen: return ("Returns the length of a string value.", "string", "2.2.0")
        case .ping: return ("Returns the server's liveliness response.", "connection", "1.0.0")
        case .echo: return ("Returns the given string.", "connection", "1.0.0")
        case .info: return ("Returns information and statistics about the server.", "server", "1.0.0")
        case .command: return ("Returns detailed information about all commands.", "server", "2.8.13")
        case .hello: return ("Handshakes with the server.", "connection", "6.0.0")
        case .quit: return ("Closes the connection.", "connection", "1.0.0")
        case .auth: return ("Authenticates the connection.", "connection", "1.0.0")
        case .select: return ("Changes the selected database (chainstore has only database 0).", "connection", "1.0.0")
        case .config: return ("Returns the effective values of configuration parameters (chainstore is configured by flags).", "server", "2.0.0")
        case .client: return ("A container for client connection commands.", "connection", "2.4.0")
        case .cluster: return ("A container for Redis Cluster commands (chainstore: each chain is a shard).", "cluster", "3.0.0")
        case .time: return ("Returns the server time.", "server", "2.6.0")
        case .readonly: return ("Enables read-only queries for a connection to a Redis Cluster replica node.", "cluster", "3.0.0")
        case .readwrite: return ("Enables read-write queries for a connection to a Redis Cluster replica node.", "cluster", "3.0.0")
        case .memory: return ("Estimates the memory usage of a key.", "server", "4.0.0")
        case .dbsize: return ("Returns the number of keys in the database.", "server", "1.0.0")
        case .type: return ("Determines the type of value stored at a key.", "generic", "1.0.0")
        case .touch: return ("Returns the number of existing keys out of those specified.", "generic", "3.2.1")
        case .unlink: return ("Deletes one or more keys.", "generic", "4.0.0")
        case .rename: return ("Renames a key and overwrites the destination.", "generic", "1.0.0")
        case .renamenx: return ("Renames a key only when the target key name doesn't exist.", "generic", "1.0.0")
        case .copy: return ("Copies the value of a key to a new key.", "generic", "6.2.0")
        case .flushall: return ("Removes all keys from all databases.", "server", "1.0.0")
        case .flushdb: return ("Removes all keys from the current database.", "server", "1.0.0")
        case .getdel: return ("Returns the string value of a key after deleting the key.", "string", "6.2.0")
        case .getset: return ("Returns the previous string value of a key after setting it to a new value.", "string", "1.0.0")
        case .setnx: return ("Set the string value of a key only when the key doesn't exist.", "string", "1.0.0")
        case .msetnx: return ("Atomically modifies the string values of one or more keys only when all keys don't exist.", "string", "1.0.1")
        case .getrange: return ("Returns a substring of the string stored at a key.", "string", "2.4.0")
        case .substr: return ("Returns a substring from a string value.", "string", "1.0.0")
        case .setrange: return ("Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "string", "2.2.0")
        case .incrbyfloat: return ("Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "string", "2.6.0")
        case .lcs: return ("Finds the longest common substring.", "string", "7.0.0")
        case .scan: return ("Iterates over the key names in the database.", "generic", "2.8.0")
        case .keys: return ("Returns all key names that match a pattern.", "generic", "1.0.0")
        case .randomkey: return ("Returns a random key name from the database.", "generic", "1.0.0")
        case .setex: return ("Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "string", "2.0.0")
        case .psetex: return ("Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "string", "2.6.0")
        case .getex: return ("Returns the string value of a key after setting its expiration time.", "string", "6.2.0")
        case .expire: return ("Sets the expiration time of a key in seconds.", "generic", "1.0.0")
        case .pexpire: return ("Sets the expiration time of a key in milliseconds.", "generic", "2.6.0")
        case .expireat: return ("Sets the expiration time of a key to a Unix timestamp.", "generic", "1.2.0")
        case .pexpireat: return ("Sets the expiration time of a key to a Unix milliseconds timestamp.", "generic", "2.6.0")
        case .ttl: return ("Returns the expiration time in seconds of a key.", "generic", "1.0.0")
        case .pttl: return ("Returns the expiration time in milliseconds of a key.", "generic", "2.6.0")
        case .persist: return ("Removes the expiration time of a key.", "generic", "2.2.0")
        case .expiretime: return ("Returns the expiration time of a key as a Unix timestamp.", "generic", "7.0.0")
        case .pexpiretime: return ("Returns the expiration time of a key as a Unix milliseconds timestamp.", "generic", "7.0.0")
        case .multi: return ("Starts a transaction.", "transactions", "1.2.0")
        case .exec: return ("Executes all commands in a transaction.", "transactions", "1.2.0")
        case .discard: return ("Discards a transaction.", "transactions", "2.0.0")
        case .watch: return ("Monitors changes to keys to determine the execution of a transaction.", "transactions", "2.2.0")
        case .unwatch: return ("Forgets about watched keys of a transaction.", "transactions", "2.2.0")
        case .hset: return ("Creates or modifies the value of a field in a hash.", "hash", "2.0.0")
        case .hsetnx: return ("Sets the value of a field in a hash only when the field doesn't exist.", "hash", "2.0.0")
        case .hmset: return ("Sets the values of multiple fields.", "hash", "2.0.0")
        case .hget: return ("Returns the value of a field in a hash.", "hash", "2.0.0")
        case .hmget: return ("Returns the values of all fields in a hash.", "hash", "2.0.0")
        case .hgetall: return ("Returns all fields and values in a hash.", "hash", "2.0.0")
        case .hdel: return ("Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "hash", "2.0.0")
        case .hexists: return ("Determines whether a field exists in a hash.", "hash", "2.0.0")
        case .hlen: return ("Returns the number of fields in a hash.", "hash", "2.0.0")
        case .hincrby: return ("Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", "hash", "2.0.0")
        case .hincrbyfloat: return ("Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", "hash", "2.6.0")
        case .hkeys: return ("Returns all fields in a hash.", "hash", "2.0.0")
        case .hvals: return ("Returns all values in a hash.", "hash", "2.0.0")
        case .hstrlen: return ("Returns the length of the value of a field.", "hash", "3.2.0")
        case .hscan: return ("Iterates over fields and values of a hash.", "hash", "2.8.0")
        case .hrandfield: return ("Returns one or more random fields from a hash.", "hash", "6.2.0")
        case .eval: return ("Executes a server-side Lua script (chainstore: only redis-py's Lock scripts).", "scripting", "2.6.0")
        case .evalsha: return ("Executes a server-side Lua script by SHA1 digest (chainstore: only redis-py's Lock scripts).", "scripting", "2.6.0")
        case .script: return ("A container for Lua scripts management commands.", "scripting", "2.6.0")
        case .dump: return ("Returns a serialized representation of the value stored at a key.", "generic", "2.6.0")
        case .restore: return ("Creates a key from the serialized representation of a value.", "generic", "2.6.0")
        case .object: return ("A container for object introspection commands (chainstore: ENCODING as Redis would encode the value, REFCOUNT, IDLETIME 0, FREQ refused).", "generic", "2.2.3")
        case .sort: return ("Sorts the elements in a list, a set, or a sorted set, optionally storing the result (chainstore has none of those types).", "generic", "1.0.0")
        case .sortRO: return ("Returns the sorted elements of a list, a set, or a sorted set (chainstore has none of those types).", "generic", "7.0.0")
        }
    }

    /// ACL categories, as `COMMAND` lists them.
    var categories: [String] {
        let (_, group, _) = docs
        var c: [String] = []
        switch group {
        case "string": c.append("@string")
        case "hash": c.append("@hash")
        case "generic": c.append("@keyspace")
        case "transactions": c.append("@transaction")
        case "scripting": c.append("@scripting")
        case "connection": c.append("@connection")
        default: break
        }
        if isDataCommand { c.append(isWrite ? "@write" : "@read") }
        c.append(flags.contains("fast") ? "@fast" : "@slow")
        return c
    }

    /// Writes `COMMAND INFO`'s entry for this command (Redis 7's ten fields).
    func writeInfo(_ out: inout RESPWriter) {
        let (first, last, step) = keySpec
        out.arrayHeader(10)
        out.bulk(name)
        out.integer(arity)
        out.arrayHeader(flags.count)
        for f in flags { out.simple(f) }
        let movable = self == .eval || self == .evalsha
        out.integer(movable ? 0 : first); out.integer(movable ? 0 : last); out.integer(movable ? 0 : step)
        out.arrayHeader(categories.count)
        for c in categories { out.simple(c) }
        out.arrayHeader(0)  // tips
        if isDataCommand {
            out.arrayHeader(1)
            out.mapHeader(3)
            out.bulk("flags")
            let access = isWrite ? ["RW", "UPDATE"] : (flags.contains("readonly") ? ["RO", "ACCESS"] : ["RO"])
            out.arrayHeader(access.count)
            for a in access { out.simple(a) }
            out.bulk("begin_search")
            out.mapHeader(2)
            out.bulk("type"); out.bulk("index")
            out.bulk("spec"); out.mapHeader(1); out.bulk("index"); out.integer(movable ? 2 : first)
            out.bulk("find_keys")
            out.mapHeader(2)
            if movable {
                out.bulk("type"); out.bulk("keynum")
                out.bulk("spec"); out.mapHeader(3)
                out.bulk("keynumidx"); out.integer(0)
                out.bulk("firstkey"); out.integer(1)
                out.bulk("keystep"); out.integer(1)
            } else {
                out.bulk("type"); out.bulk("range")
                out.bulk("spec"); out.mapHeader(3)
                out.bulk("lastkey"); out.integer(last < 0 ? last : last - first)
                out.bulk("keystep"); out.integer(step)
                out.bulk("limit"); out.integer(0)
            }
        } else {
            out.arrayHeader(0)
        }
        out.arrayHeader(0)  // subcommands
    }

    /// Writes `COMMAND DOCS`'s value for this command.
    func writeDocs(_ out: inout RESPWriter) {
        let (summary, group, since) = docs
        out.mapHeader(3)
        out.bulk("summary"); out.bulk(summary)
        out.bulk("since"); out.bulk(since)
        out.bulk("group"); out.bulk(group)
    }
}
