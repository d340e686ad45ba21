//go:build !race

package main

const execRaceEnabled = false
