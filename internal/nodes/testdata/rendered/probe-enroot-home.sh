#!/bin/sh
echo @@uname; uname -sm
if command -v nvidia-smi >/dev/null 2>&1; then echo @@nvidia; nvidia-smi --query-gpu=index,name,uuid --format=csv,noheader,nounits 2>&1; rc=$?; echo @@nvidia.rc; echo $rc; echo @@nvidia-apps; nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader,nounits 2>&1; fi
if command -v rocm-smi >/dev/null 2>&1; then echo @@rocm; rocm-smi --showproductname --showuse --json 2>&1; echo; echo @@rocm-pids; rocm-smi --showpids --json 2>&1; echo; fi
echo @@runtime; if command -v enroot >/dev/null 2>&1; then enroot version 2>&1; rc=$?; echo "@@runtime.rc"; echo $rc; else echo "enroot: command not found"; echo "@@runtime.rc"; echo 127; fi
echo @@df; d="$HOME"/'fleet work'; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; echo "$d"; df -Pk "$d" | tail -n 1
echo @@hf; h="$HOME"; echo "$h"; if [ -d "$h" ]; then echo yes; else echo no; fi
echo @@workdir; id -u; d="$HOME"/'fleet work'; if [ -e "$d" ]; then stat -L -c '%u %a %U' -- "$d" 2>/dev/null || stat -L -f '%u %Lp %Su' -- "$d" 2>/dev/null; fi
