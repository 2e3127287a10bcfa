#!/bin/sh
__fleet_env=; while IFS= read -r __fleet_l && [ "$__fleet_l" != . ]; do __fleet_env="$__fleet_env${__fleet_l#+}
"; done; eval "$__fleet_env"; unset __fleet_env __fleet_l; printf %s "$HF_TOKEN"
