import XCTest
@testable import ChainServer

/// The internal wrappers' quick checks (`Server.execute` reads them on every command).
final class WrapperTests: XCTestCase {
    func testRequestIdsAreUnsignedDecimals() {
        XCTAssertEqual(Wrapper.id(Array("0".utf8)), 0)
        XCTAssertEqual(Wrapper.id(Array("0042".utf8)), 42)
        XCTAssertEqual(Wrapper.id(Array("18446744073709551615".utf8)), UInt64.max)
        for bad in ["", "x", "-1", "+1", " 1", "1 ", "18446744073709551616", "99999999999999999999", "123456789012345678901", "1.5"] {
            XCTAssertNil(Wrapper.id(Array(bad.utf8)), bad)
        }
    }

    func testOnlyCSPrefixedNamesMayBeWrappers() {
        for name in ["CS.FWD", "cs.req", "Cs.Retry", "cs.scan"] { XCTAssert(Wrapper.mayBeWrapper(Array(name.utf8)), name) }
        for name in ["SET", "GET", "CS.", "cs", "csx.req", "CLUSTER", "C.S.REQ"] { XCTAssertFalse(Wrapper.mayBeWrapper(Array(name.utf8)), name) }
        XCTAssert(Wrapper.matches(Array("CS.REQ".utf8), Wrapper.request))
        XCTAssertFalse(Wrapper.matches(Array("CS.REQX".utf8), Wrapper.request))
    }
}
