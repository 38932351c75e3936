# The two commands of the README. Each installs what it needs first.
.PHONY: demo test deps

# Build, then run the bundled antialiased classifier on a bundled image.
demo: deps
	swift run lowpass run Graphs/examples/mnist-blurpool-small.json --input Graphs/examples/digit-7.npy --output-dir out

# Build and run every test. The tests' files (temporary models, outputs, compile caches) go to a
# folder of this run's, removed afterwards whatever the result.
test: deps
	@scratch=$$(mktemp -d -t lowpass-tests.XXXXXX) && TMPDIR=$$scratch swift test; status=$$?; rm -rf "$$scratch"; exit $$status

deps:
	@scripts/install-dependencies
