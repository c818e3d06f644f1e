#!/usr/bin/env bash
# tools/dist_retrieval.sh CONFIG CHECKPOINT GPUS [retrieval.py args]: see tools/dist_knn.sh.
MIMCO_FROZEN_TOOL=retrieval exec "$(dirname "$0")/dist_knn.sh" "$@"
