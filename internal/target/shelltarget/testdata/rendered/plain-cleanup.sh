#!/bin/sh
rm -rf -- /home/bench/.cache/fleet/work/20260101-120000/sim70b_tp8_conc4/1
