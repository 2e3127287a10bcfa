# shellcheck shell=sh
export EMPTY=''
export FLAG=--tp=8
export NASTY='it'\''s "$(touch /tmp/pwned)" `id` $HOME
line2 \ %'
