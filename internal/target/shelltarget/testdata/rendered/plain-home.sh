#!/bin/sh
printf '%s' "$HOME"
