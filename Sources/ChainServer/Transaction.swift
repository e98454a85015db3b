import ChainCore

extension Wrapper {
    /// `CS.EXEC …`: a whole transaction, sent to its chain's head (`TransactionRequest`).
    static let exec = Array("cs.exec".utf8)
    /// `CS.WATCH key…`: asks the chain's head for a `WatchTable.Token`.
    static let watch = Array("cs.watch".utf8)
}

/// A connection's open `MULTI`: the commands queued so far, and whether one was refused (then
/// `EXEC` discards the transaction, as Redis does).
struct TransactionState {
    var commands: [[[UInt8]]] = []
    var failed = false
}

/// What a connection watches: the keys, and the token of the head that will judge them. Two
/// `WATCH` calls answered by different heads or epochs cannot both hold: the transaction aborts.
struct WatchState {
    var keys: [[UInt8]] = []
    var token: WatchTable.Token?
    var broken = false

    mutating func add(_ keys: [[UInt8]], _ t: WatchTable.Token) {
        self.keys += keys
        guard let old = token else { token = t; return }
        if old.incarnation != t.incarnation || old.epoch != t.epoch { broken = true }
        token?.counter = min(old.counter, t.counter)
    }
}

/// A transaction as it travels to its chain's head: `CS.EXEC token broken nWatched key… nCommands
/// (argc arg…)…`, token `-` when nothing is watched.
struct TransactionRequest: Equatable {
    var token: WatchTable.Token?
    var broken: Bool
    var watched: [[UInt8]]
    var commands: [[[UInt8]]]

    var encoded: [[UInt8]] {
        var a: [[UInt8]] = [Wrapper.exec, Array((token?.text ?? "-").utf8), broken ? [49] : [48], Array(String(watched.count).utf8)]
        a += watched
        a.append(Array(String(commands.count).utf8))
        for c in commands {
            a.append(Array(String(c.count).utf8))
            a += c
        }
        return a
    }

    /// Parses `args` (starting with `CS.EXEC`); nil if malformed. Each command must be a known
    /// key command with the right number of arguments.
    init?(_ args: [[UInt8]]) {
        var i = 1
        func number() -> Int? {
            guard i < args.count, let n = Int(String(decoding: args[i], as: UTF8.self)), n >= 0 else { return nil }
            i += 1
            return n
        }
        guard args.count >= 5 else { return nil }
        let t = String(decoding: args[1], as: UTF8.self)
        token = t == "-" ? nil : WatchTable.Token(text: t)
        guard t == "-" || token != nil, args[2] == [48] || args[2] == [49] else { return nil }
        broken = args[2] == [49]
        i = 3
        guard let w = number(), i + w <= args.count else { return nil }
        watched = Array(args[i..<(i + w)])
        i += w
        guard let n = number() else { return nil }
        commands = []
        for _ in 0..<n {
            guard let argc = number(), argc >= 1, i + argc <= args.count else { return nil }
            let c = Array(args[i..<(i + argc)])
            guard let id = CommandID.lookup(c[0]), id.runsInTransaction, id.arityOK(argc), id.malformed(c) == nil else { return nil }
            commands.append(c)
            i += argc
        }
        guard i == args.count else { return nil }
    }

    init(token: WatchTable.Token?, broken: Bool, watched: [[UInt8]], commands: [[[UInt8]]]) {
        self.token = token
        self.broken = broken
        self.watched = watched
        self.commands = commands
    }

    /// Every key the transaction touches or watches.
    var keys: [[UInt8]] { watched + commands.flatMap { CommandID.lookup($0[0])!.keys($0) } }
}
