#!/bin/bash
# tests/fsx/fsx-foliofs-1k.sh - the short consistency suite (fsx-foliofs.sh)
# with 1024-byte blocks; one script per block size so make -j runs them side by side.
exec bash "$(dirname "$0")/fsx-foliofs.sh" 1024
