# OCI runtime-tools validation of berth-runtime against crun and runc (hack/conformance-runtime.sh).
# Included by the top-level Makefile; run from the repository root, as root. Options go in
# CONFORMANCE_ARGS, e.g. make conformance-runtime CONFORMANCE_ARGS="--only '^linux_ns' --check"
CONFORMANCE_ARGS ?=

.PHONY: conformance-runtime
conformance-runtime:
	bash hack/conformance-runtime.sh $(CONFORMANCE_ARGS)
