import ChainCore
import RESP
import Storage

/// `MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`. A transaction's commands are queued on the
/// connection and sent at `EXEC` as one request (`CS.EXEC`) to the head of the chain that holds
/// all their keys (one chain, like every multi-key command; `-CROSSSLOT` otherwise), where they
/// run one after another against the head's data and become one update: every replica applies
/// all of them or none, and no other write comes between them. `WATCH` takes a token from that
/// head (`WatchTable`); `EXEC` aborts with a null reply if a watched key was written since.
extension Server {
    /// The transaction machinery's part of a command, nil when it has none (the command runs as
    /// usual). Queues commands while the connection is inside `MULTI`. `id` is `args[0]` looked
    /// up (nil: no such command).
    func transactionControl(_ cmd: RESPCommand, _ args: [[UInt8]], _ id: CommandID?, session: ClientSession,
                            into out: inout RESPWriter) -> CommandOutcome? {
        switch id {
        case .multi?, .exec?, .discard?, .unwatch?, .watch?:
            // (Only commands this answers look up their stats: the usual ones do so later.)
            session.currentCommand = metrics.command(id, counted: false)
            guard id!.arityOK(args.count) else {
                out.error("ERR wrong number of arguments for '\(id!.name)' command")
                if session.transaction != nil { session.transaction?.failed = true }
                return .answered
            }
        default:
            guard session.transaction != nil else { return nil }
            session.currentCommand = metrics.command(id, counted: false)
            queue(cmd, args, id, session: session, into: &out)
            return .answered
        }
        switch id! {
        case .multi:
            if session.transaction != nil { out.error("ERR MULTI calls can not be nested") } else {
                session.transaction = TransactionState()
                out.ok()
            }
        case .discard:
            if session.transaction == nil { out.error("ERR DISCARD without MULTI") } else {
                session.transaction = nil
                session.watch = WatchState()
                out.ok()
            }
        case .unwatch:
            if session.transaction != nil {
                out.error("ERR UNWATCH inside MULTI is not supported by chainstore (EXEC and DISCARD unwatch)")
                session.transaction?.failed = true
            } else {
                session.watch = WatchState()
                out.ok()
            }
        case .watch:
            if session.transaction != nil { out.error("ERR WATCH inside MULTI is not allowed") } else {
                return watch(Array(args.dropFirst()), session: session, into: &out)
            }
        default:
            return exec(session: session, into: &out)
        }
        return .answered
    }

    /// A command inside `MULTI`: checked now (an error discards the transaction at `EXEC`), run
    /// at `EXEC`.
    private func queue(_ cmd: RESPCommand, _ args: [[UInt8]], _ id: CommandID?, session: ClientSession, into out: inout RESPWriter) {
        let name = String(decoding: args[0].prefix(64), as: UTF8.self)
        var refusal: String?
        if let id {
            if !id.runsInTransaction {
                refusal = "ERR '\(name.uppercased())' is not allowed inside a chainstore transaction (key commands only)"
            } else if !id.arityOK(args.count) {
                refusal = "ERR wrong number of arguments for '\(id.name)' command"
            } else if let why = id.malformed(args) {
                refusal = why
            } else if let big = cmd.oversized {
                refusal = "ERR value too large: argument \(big.index) is \(big.length) bytes, the limit is \(config.maxValueBytes) (--max-value-bytes)"
            } else if id.isWrite, let user = session.user, user.permission == .readOnly {
                refusal = "NOPERM User \(user.name) has no permissions to run the '\(id.name)' command"
            }
        } else {
            refusal = "ERR unknown command '\(name)'"
        }
        var args = args
        if refusal == nil, id == .evalsha {
            if let body = scripts.body(forSHA: args[1]) {
                args[0] = Array("EVAL".utf8)
                args[1] = body
            } else {
                refusal = "NOSCRIPT No matching script. Please use EVAL."
            }
        }
        if let refusal {
            metrics.error("transaction_refused")
            session.transaction?.failed = true
            out.error(refusal)
        } else {
            session.transaction?.commands.append(args)
            out.simple("QUEUED")
        }
    }

    private func exec(session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        guard let tx = session.transaction else {
            out.error("ERR EXEC without MULTI")
            return .answered
        }
        let w = session.watch
        let finish = {
            session.transaction = nil
            session.watch = WatchState()
        }
        if tx.failed {
            finish()
            out.error("EXECABORT Transaction discarded because of previous errors.")
            return .answered
        }
        if tx.commands.isEmpty {
            finish()
            if w.broken { out.nullArray() } else { out.arrayHeader(0) }
            return .answered
        }
        let writes = tx.commands.contains { CommandID.lookup($0[0])?.isWrite ?? false }
        if writes, let e = data.writeError {
            finish()
            metrics.error("store_unavailable")
            out.error("EXECABORT store unavailable, writes are refused: \(e)")
            return .answered
        }
        let request = TransactionRequest(token: w.token, broken: w.broken, watched: w.keys, commands: tx.commands)
        let outcome = runOrRoute(request, session: session, forwarded: false, into: &out)
        if case .waiting = outcome { return .waiting }
        finish()
        return outcome
    }

    /// `CS.EXEC …`: a transaction forwarded here by the node its client talks to.
    func execRequest(_ args: [[UInt8]], session: ClientSession, forwarded: Bool, into out: inout RESPWriter) -> CommandOutcome {
        guard let request = TransactionRequest(args) else {
            out.error("ERR malformed CS.EXEC (internal: sent by nodes at EXEC)")
            return .answered
        }
        return runOrRoute(request, session: session, forwarded: forwarded, into: &out)
    }

    private func runOrRoute(_ request: TransactionRequest, session: ClientSession, forwarded: Bool, into out: inout RESPWriter) -> CommandOutcome {
        defer { session.observed(data.currentSeq) }
        if let node = chainNode { return node.handleTransaction(request, session: session, forwarded: forwarded, into: &out) }
        let aborted = request.broken || request.token.map { watchTable.mustAbort(chain: 0, keys: request.watched, since: $0, epoch: 0) } ?? false
        Self.runTransaction(request, on: direct, aborted: aborted, maxValueBytes: config.maxValueBytes, into: &out)
        return .answered
    }

    /// `EXEC`'s reply: each command's reply in an array, run one after another on `data`; a
    /// null array, running nothing, when a watched key changed.
    static func runTransaction(_ request: TransactionRequest, on data: any Keyspace, aborted: Bool, maxValueBytes: Int,
                               into out: inout RESPWriter) {
        if aborted { return out.nullArray() }
        out.arrayHeader(request.commands.count)
        let commands = StringCommands(data: data, maxValueBytes: maxValueBytes)
        // A command's failure (WRONGTYPE, say) is its element of the reply; the others run.
        for c in request.commands {
            do { try commands.run(CommandID.lookup(c[0])!, c, &out) } catch { out.error(error.reply) }
        }
    }

    private func watch(_ keys: [[UInt8]], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        guard let node = chainNode else {
            session.watch.add(keys, watchTable.token(epoch: 0, committed: standaloneWrites))
            out.ok()
            return .answered
        }
        return node.watch(keys, session: session, into: &out)
    }

    /// `CS.WATCH key…` at a chain's head: its token, or an error if it is not the serving head.
    func watchRequest(_ args: [[UInt8]], into out: inout RESPWriter) -> CommandOutcome {
        guard let node = chainNode, args.count >= 2 else {
            out.error("ERR CS.WATCH needs keys (cluster mode only)")
            return .answered
        }
        node.watchToken(Array(args.dropFirst()), into: &out)
        return .answered
    }
}
