# brig's MCP server (producer/mcp) in a venv of its own, which mk/mcp.sh
# builds from brig's Python client and brig-mcp, with their dependencies
# from PyPI (their wheels kept in $(BUILD)/wheelhouse, so a rebuild downloads
# nothing):
#
#   make mcp       $(BUILD)/lib/brig/mcp, which $(BUILD)/bin/brig mcp runs
#   make install   installs it under $(PREFIX)/lib/brig/mcp (mk/install.mk)
#   make bench     measures it (tests/bench/driver_mcp.py)

MCP_VENV    := $(BUILD)/lib/brig/mcp
MCP_WHEELHOUSE := $(abspath $(BUILD))/wheelhouse
MCP_SOURCES  = $(shell find producer/python producer/mcp -type f -not -path '*/__pycache__/*')

.PHONY: mcp
mcp: $(MCP_VENV)/.built

$(MCP_VENV)/.built: mk/mcp.sh $(MCP_SOURCES) | deps
	mk/mcp.sh $(MCP_VENV) $(MCP_VENV) $(MCP_WHEELHOUSE)
	touch $@

bench: mcp
