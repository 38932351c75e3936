# The two commands of the README. Each installs what it needs first.
.PHONY: demo test deps

# Build, then show the product's point on the bundled digit classifier: antialias it, run it, and
# measure its shift consistency against the baseline (scripts/demo).
demo: deps
	scripts/demo

# Build and run every test. The tests' files (temporary models, outputs, compile caches) go to a
# folder of this run's, removed afterwards whatever the result.
test: deps
	@scratch=$$(mktemp -d -t lowpass-tests.XXXXXX) && TMPDIR=$$scratch swift test; status=$$?; rm -rf "$$scratch"; exit $$status

deps:
	@scripts/install-dependencies
