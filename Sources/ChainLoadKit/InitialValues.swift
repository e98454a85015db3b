import ChainClient
import ChainCore
import EventLoop
import RESP

/// What the keys of a checked run hold before it starts (an earlier run, `--preload`): the
/// checker starts each key's register from it, so that a first read of an old value is not
/// mistaken for a value no write produced. Read with pipelined GETs, from each key's tail in a
/// cluster (a committed value).
extension LoadTargetSpec {
    func currentValues(keys: Range<Int>) throws -> [[UInt8]: [UInt8]] {
        var byAddress: [SocketAddress: [[UInt8]]] = [:]
        let security: LoadSecurity
        switch self {
        case let .resp(write, _, _, s):
            security = s
            byAddress[write] = keys.map(KeyChooser.name)
        case let .cluster(feed, s, _):
            security = s
            let config = feed.current.config
            for k in keys {
                let name = KeyChooser.name(k)
                guard let tail = config.chains[config.chain(forKey: name)].tail, let addr = config.node(tail)?.client,
                      let a = try? SocketAddress(parsing: addr) else {
                    throw LoadRunner.LoadError(message: "--check: no tail serves key \(String(decoding: name, as: UTF8.self)) now; cannot read the keys' current values")
                }
                byAddress[a, default: []].append(name)
            }
        }
        var values: [[UInt8]: [UInt8]] = [:]
        for (address, names) in byAddress {
            do {
                let client = try RESPClient(host: address.host, port: address.port, timeoutMs: 5000, credentials: security.credentials, tls: security.tls)
                defer { client.close() }
                var i = 0
                while i < names.count {
                    let chunk = names[i..<min(i + 1000, names.count)]
                    let replies = try client.pipeline(chunk.map { [Array("GET".utf8), $0] })
                    for (name, reply) in zip(chunk, replies) {
                        switch reply {
                        case let .bulk(v?): values[name] = v
                        case .bulk(nil), .null: break
                        default: throw LoadRunner.LoadError(message: "--check: reading \(String(decoding: name, as: UTF8.self)) before the run answered \(reply)")
                        }
                    }
                    i += chunk.count
                }
            } catch let e as LoadRunner.LoadError {
                throw e
            } catch {
                throw LoadRunner.LoadError(message: "--check: cannot read the keys' current values from \(address): \(error)")
            }
        }
        return values
    }
}
