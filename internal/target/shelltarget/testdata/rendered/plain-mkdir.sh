#!/bin/sh
rm -rf /tmp/fleet-work/20260101-120000/sim70b_tp8_conc4/1 && mkdir -p /tmp/fleet-work/20260101-120000/sim70b_tp8_conc4/1/.fleet && chmod 700 /tmp/fleet-work/20260101-120000/sim70b_tp8_conc4/1/.fleet
