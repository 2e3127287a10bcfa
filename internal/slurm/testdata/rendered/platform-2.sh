#!/bin/sh
uname -s; uname -m
