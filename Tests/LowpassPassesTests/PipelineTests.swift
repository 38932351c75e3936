import Cleanup
import Testing
import LowpassIR
@testable import LowpassPasses

@Suite("Pipeline text")
struct PipelineTests {
    let registry = PassRegistry(plugins: [CleanupPlugin.self, TestPlugin.self])

    @Test(arguments: [
        "dce",
        "remove-identity,canonicalize,dce",
        "kitchen-sink{filter=5,pad=zero},dce",
        #"kitchen-sink{exclude="layer1.*,layer2.*",scale=0.5}"#,
        #"kitchen-sink{exclude="say \"hi\""}"#,
    ])
    func printsBackAsTheSameText(text: String) throws {
        let pipeline = try Pipeline(parsing: text)
        #expect(pipeline.description == text)
        #expect(try Pipeline(parsing: pipeline.description) == pipeline)
    }

    @Test func whitespaceIsIgnored() throws {
        let pipeline = try Pipeline(parsing: "  kitchen-sink { filter = 5 , pad = zero } ,  dce ")
        #expect(pipeline.description == "kitchen-sink{filter=5,pad=zero},dce")
        #expect(pipeline.steps[0].options.map(\.value) == ["5", "zero"])
    }

    func parseError(_ text: String) -> PipelineError? {
        do {
            _ = try Pipeline(parsing: text)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ("", 1, "the pipeline is empty"),
        ("dce,", 5, "trailing ','"),
        ("dce,,dce", 5, "expected a pass name, found ','"),
        ("kitchen-sink{filter=4", 13, "missing '}'"),
        ("kitchen-sink{}", 13, "empty option list"),
        ("kitchen-sink{filter}", 20, "expected '=' after option 'filter'"),
        ("kitchen-sink{filter=4,filter=5}", 23, "option 'filter' is given twice"),
        ("kitchen-sink{filter=}", 21, "expected a value after '='"),
        ("dce dce", 5, "expected ',' between passes"),
        (#"kitchen-sink{exclude="abc}"#, 22, "unterminated quoted value"),
        ("kitchen-sink{filter=4;pad=zero}", 26, "expected ',' or '}'"),
        ("dce}", 4, "expected ',' between passes, found '}'"),
    ])
    func syntaxErrorsPointAtTheColumn(text: String, column: Int, message: String) throws {
        let error = try #require(parseError(text))
        #expect(error.column == column, "\(error)")
        #expect(error.message.contains(message), "\(error)")
        #expect(error.description.contains("^"), "a caret marks the column")
    }

    @Test func aHugePipelineIsRefusedQuickly() throws {
        let huge = String(repeating: "dce,", count: 262_144) + "dce"  // 1 MiB
        let error = try #require(parseError(huge))
        #expect(error.message.contains("the limit is"))
    }

    func configureError(_ text: String) throws -> PipelineError? {
        do {
            _ = try registry.configure(try Pipeline(parsing: text), text: text)
            return nil
        } catch {
            return error
        }
    }

    @Test func unknownPassSuggestsTheNearestAndListsAll() throws {
        let error = try #require(try configureError("dce,canonicalise"))
        #expect(error.column == 5)
        #expect(error.message.contains("unknown pass 'canonicalise'; did you mean 'canonicalize'?"))
        #expect(error.message.contains("known passes: breaker, canonicalize, dce, kitchen-sink, remove-identity, rename-first"))
    }

    @Test func unknownOptionSuggestsTheNearestAndListsAll() throws {
        let error = try #require(try configureError("kitchen-sink{filtr=3}"))
        #expect(error.column == 14)
        #expect(error.message.contains("pass 'kitchen-sink' has no option 'filtr'; did you mean 'filter'?"))
        #expect(error.message.contains("its options: filter, scale, enabled, pad, exclude"))
        let none = try #require(try configureError("dce{aggressive=1}"))
        #expect(none.message.contains("it takes no options"))
    }

    @Test(arguments: [
        ("kitchen-sink{filter=four}", "expects an integer, got 'four'"),
        ("kitchen-sink{filter=0}", "must be in 1...64, got 0"),
        ("kitchen-sink{scale=big}", "expects a number"),
        ("kitchen-sink{enabled=maybe}", "expects true or false"),
        ("kitchen-sink{pad=mirror}", "must be one of reflect, replicate, zero; got 'mirror'"),
    ])
    func badOptionValues(text: String, message: String) throws {
        let error = try #require(try configureError(text))
        #expect(error.message.contains(message), "\(error)")
        #expect(error.column == 14)
    }

    @Test func optionsAreTypedAndDefaulted() throws {
        let passes = try registry.configure(try Pipeline(parsing: "kitchen-sink{filter=7,enabled=off}"))
        let options = passes[0].options
        #expect(options.int("filter") == 7)
        #expect(options.bool("enabled") == false)
        #expect(options.float("scale") == 1)
        #expect(options.string("pad") == "reflect")
    }
}
