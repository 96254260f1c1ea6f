package main

// The CGO_ENABLED=0 build of the stand-in agent (buildinfo.py): cgo.go cannot be
// built without cgo, so this takes its place.

var cgoLinked = false
