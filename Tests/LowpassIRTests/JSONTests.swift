import Testing
@testable import LowpassIR

@Suite("JSON parser and writer")
struct JSONTests {
    @Test func keepsIntegersAndFloatsApart() throws {
        let value = try JSONValue.parse(#"{"a": 1, "b": 1.0, "c": -2e3, "d": [true, null, "x\n\u00e9"]}"#)
        #expect(value["a"] == .int(1))
        #expect(value["b"] == .double(1.0))
        #expect(value["c"] == .double(-2000))
        #expect(value["d"] == .array([.bool(true), .null, .string("x\né")]))
    }

    @Test func roundTripsThroughTheWriter() throws {
        let text = #"{"z": [1, 2, 3], "a": {"nested": [{"k": 0.5}], "s": "q\"uote"}, "f": 3.0, "u": "\ud83d\ude00"}"#
        let value = try JSONValue.parse(text)
        let written = value.formatted()
        #expect(try JSONValue.parse(written) == value)
        #expect(written.contains("\"z\": [1, 2, 3]"), "small arrays stay on one line")
        #expect(written.firstRange(of: "\"z\"")!.lowerBound < written.firstRange(of: "\"a\"")!.lowerBound, "member order is kept")
    }

    @Test(arguments: [
        ("{\"a\": 1,}", 1, 9),
        ("{\n  \"a\": tru\n}", 2, 8),
        ("[1, 2", 1, 6),
        ("{\"a\": 1, \"a\": 2}", 1, 10),
        ("\"unterminated", 1, 1),
        ("01x", 1, 2),
        ("", 1, 1),
    ])
    func reportsSyntaxErrorsWithLineAndColumn(text: String, line: Int, column: Int) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(text) }
        do {
            _ = try JSONValue.parse(text)
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.column == column, "\(error)")
        }
    }

    @Test func boundsNestingDepth() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect((try? JSONValue.parse(fine)) != nil)
    }
}
