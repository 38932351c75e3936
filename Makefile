# The two commands of the README. Each installs what it needs first.
.PHONY: demo test deps

# Build, then run the bundled antialiased classifier on a bundled image.
demo: deps
	swift run lowpass run Graphs/examples/mnist-blurpool-small.json --input Graphs/examples/digit-7.npy --output-dir out

# Build and run every test.
test: deps
	swift test

deps:
	@scripts/install-dependencies
