"""skiff.cli.gotemplate, kubectl's ``-o go-template``: every case here was run through the real
kubectl 1.32 (``kubectl label --local -f pod.yaml x=y -o go-template=...`` on the POD below, and
``kubectl create configmap --dry-run=client`` for CONFIGMAP's null) and its output copied in:
what it printed to stdout (before the failure, for errors) and the Go error in its message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skiff.api.manifest import from_manifest
from skiff.cli.context import UsageError
from skiff.cli.gotemplate import ExecError, GoTemplate, ParseError, debug_dump, sprintf
from skiff.cli.printers import OutputFormat, parse_output, render_generic

POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"annotations": {"empty": "", "html": "<a&b>", "secret": "aGVsbG8gd29ybGQ=", "uni": "héllo ☃"},
                 "labels": {"app": "web", "tier": "front", "x": "y"}, "name": "web-1", "namespace": "default"},
    "spec": {"containers": [{"args": ["a", "b c", 'd"e'], "image": "nginx:1.27", "name": "app",
                             "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}]},
                            {"image": "busybox", "name": "side", "stdin": True}],
             "hostNetwork": False, "nodeSelector": {}, "priority": -5, "terminationGracePeriodSeconds": 100000000},
}
CONFIGMAP: dict[str, Any] = {"kind": "ConfigMap", "apiVersion": "v1",
                             "metadata": {"name": "x", "creationTimestamp": None}, "data": {"a": "b", "c": "d e"}}

OUTPUTS: list[tuple[str, str]] = [
    ('{{.}}',
     'map[apiVersion:v1 kind:Pod metadata:map[annotations:map[empty: html:<a&b> secret:aGVsbG8gd29y'
     'bGQ= uni:héllo ☃] labels:map[app:web tier:front x:y] name:web-1 namespace:default] spec:map[c'
     'ontainers:[map[args:[a b c d"e] image:nginx:1.27 name:app ports:[map[containerPort:80 name:ht'
     'tp] map[containerPort:443]]] map[image:busybox name:side stdin:true]] hostNetwork:false nodeS'
     'elector:map[] priority:-5 terminationGracePeriodSeconds:100000000]]'),
    ('{{.metadata}}',
     'map[annotations:map[empty: html:<a&b> secret:aGVsbG8gd29ybGQ= uni:héllo ☃] labels:map[app:web'
     ' tier:front x:y] name:web-1 namespace:default]'),
    ('{{.spec.containers}}',
     '[map[args:[a b c d"e] image:nginx:1.27 name:app ports:[map[containerPort:80 name:http] map[co'
     'ntainerPort:443]]] map[image:busybox name:side stdin:true]]'),
    ('{{.spec.priority}} {{.spec.hostNetwork}} {{.spec.nodeSelector}}', '-5 false map[]'),
    ('{{.spec.terminationGracePeriodSeconds}}', '100000000'),
    ('{{.metadata.creationTimestamp}}', '<no value>'),
    ('{{.metadata.creationTimestamp.x}}', '<no value>'),
    ('{{.nope.x}}', '<no value>'),
    ('{{range .spec.containers}}{{.name}},{{end}}', 'app,side,'),
    ('{{range $i, $c := .spec.containers}}{{$i}}={{$c.name}} {{end}}', '0=app 1=side '),
    ('{{range $k, $v := .metadata.labels}}{{$k}}:{{$v}};{{end}}', 'app:web;tier:front;x:y;'),
    ('{{range .metadata.labels}}{{.}}{{end}}', 'webfronty'),
    ('{{range .spec.nodeSelector}}x{{else}}empty{{end}}', 'empty'),
    ('{{range .nope}}x{{else}}none{{end}}', 'none'),
    ('{{with .metadata.labels.app}}[{{.}}]{{end}}', '[web]'),
    ('{{with .nope}}y{{else}}n{{end}}', 'n'),
    ('{{if .spec.hostNetwork}}a{{else if .spec.priority}}b{{else}}c{{end}}', 'b'),
    ('{{if .metadata.annotations.empty}}a{{else}}c{{end}}', 'c'),
    ('{{- "x" -}}  \n  {{- "y"}}', 'xy'),
    ('a {{/* c */}} b {{- /* c */ -}} c', 'a  bc'),
    ('{{"a\\nb\\t\\u00e9\\x41"}}', 'a\nb\téA'),
    ('{{`raw\\n`}}', 'raw\\n'),
    ('{{len .spec.containers}} {{len .metadata.labels}} {{len .metadata.name}}', '2 3 5'),
    ('{{index .spec.containers 1 "name"}}', 'side'),
    ('{{index .metadata.labels "zz"}}', '<no value>'),
    ('{{print 1 2 "a" "b" 3}}', '1 2ab3'),
    ('{{println 1 "a"}}', '1 a\n'),
    ('{{printf "%s|%d|%v|%q" .metadata.name .spec.priority .spec.containers .metadata.name}}',
     'web-1|-5|[map[args:[a b c d"e] image:nginx:1.27 name:app ports:[map[containerPort:80 name:htt'
     'p] map[containerPort:443]]] map[image:busybox name:side stdin:true]]|"web-1"'),
    ('{{printf "%5s|%-5s|%05d|%x|%X|%o|%c|%t|%%|%T" "ab" "cd" 42 255 255 8 65 true .spec}}',
     '   ab|cd   |00042|ff|FF|10|A|true|%|map[string]interface {}'),
    ('{{printf "%v %d" .metadata.labels .metadata.name}}', 'map[app:web tier:front x:y] %!d(string=web-1)'),
    ('{{printf "%s" 1}} {{printf "%d"}} {{printf "%s" "a" "b"}}', '%!s(int=1) %!d(MISSING) a%!(EXTRA string=b)'),
    ('{{eq 1 1}} {{eq .metadata.name "web-1" "x"}} {{eq .metadata.name "x" "web-1"}} {{ne 1 2}} {{l'
     't 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1.5 1.5}}',
     'true true true true true true true true'),
    ('{{eq .spec.priority -5}} {{lt .spec.priority 0}}', 'true true'),
    ('{{eq .nope nil}}', 'true'),
    ('{{and 1 0 2}} {{and 1 2}} {{or 0 "" 3}} {{or 0 ""}} {{not 0}} {{not .metadata}}', '0 2 3  true false'),
    ('{{.metadata.name | printf "%s-x"}}', 'web-1-x'),
    ('{{.metadata.name | len | printf "%d"}}', '5'),
    ('{{(index .spec.containers 0).image}}', 'nginx:1.27'),
    ('{{$x := .metadata.name}}{{$x}} {{$x = "y"}}{{$x}}', 'web-1 y'),
    ('{{$}}',
     'map[apiVersion:v1 kind:Pod metadata:map[annotations:map[empty: html:<a&b> secret:aGVsbG8gd29y'
     'bGQ= uni:héllo ☃] labels:map[app:web tier:front x:y] name:web-1 namespace:default] spec:map[c'
     'ontainers:[map[args:[a b c d"e] image:nginx:1.27 name:app ports:[map[containerPort:80 name:ht'
     'tp] map[containerPort:443]]] map[image:busybox name:side stdin:true]] hostNetwork:false nodeS'
     'elector:map[] priority:-5 terminationGracePeriodSeconds:100000000]]'),
    ('{{range .spec.containers}}{{$.metadata.name}}{{end}}', 'web-1web-1'),
    ('{{slice .metadata.name 1 3}} {{slice .spec.containers 1}}', 'eb [map[image:busybox name:side stdin:true]]'),
    ('{{range $i, $e := .spec.containers}}{{if eq $i 1}}{{break}}{{end}}{{$e.name}}{{end}}', 'app'),
    ('{{range .spec.containers}}{{if .stdin}}{{continue}}{{end}}{{.name}}{{end}}', 'app'),
    ('{{base64decode .metadata.annotations.secret}}', 'hello world'),
    ('{{exists . "metadata" "labels" "app"}} {{exists . "nope"}} {{exists .spec.containers 1}} {{ex'
     'ists .spec.containers 5}} {{exists . "metadata" "creationTimestamp"}}',
     'true false true false false'),
    ('{{.metadata.annotations.html}} {{.metadata.annotations.uni}}', '<a&b> héllo ☃'),
    ('{{html .metadata.annotations.html}} {{js "a\'b"}} {{urlquery "a b&"}}', "&lt;a&amp;b&gt; a\\'b a+b%26"),
    ('{{.x | }}', '<no value>'),
    ('{{$x := 1}}{{$x := 2}}{{$x}}', '2'),
    ('{{with $x := .metadata}}{{$x.name}}{{end}}', 'web-1'),
    ('{{- /*a*/}}', ''),
    ('{{-3}}', '-3'),
    ('{{- 3}}', '3'),
    ('{{.x -}}', '<no value>'),
    ('{{3 -}}', '3'),
    ('{{ .metadata.name }}', 'web-1'),
    ('{{.Metadata}}', '<no value>'),
    ('{{index .metadata.name 0}}', '119'),
    ('{{index .metadata}}',
     'map[annotations:map[empty: html:<a&b> secret:aGVsbG8gd29ybGQ= uni:héllo ☃] labels:map[app:web'
     ' tier:front x:y] name:web-1 namespace:default]'),
    ('{{slice .spec.containers 0 1 2}}',
     '[map[args:[a b c d"e] image:nginx:1.27 name:app ports:[map[containerPort:80 name:http] map[co'
     'ntainerPort:443]]]]'),
    ('{{slice .metadata.name}}', 'web-1'),
    ('{{and 1}}', '1'),
    ('{{eq .nope .metadata.creationTimestamp}}', 'true'),
    ('{{eq .metadata.labels nil}}', 'false'),
    ('{{print}}', ''),
    ('{{println}}', '\n'),
    ('{{print .nope}}', '<nil>'),
    ('{{print nil}}', '<nil>'),
    ('{{printf "%v" nil}}', '<nil>'),
    ('{{printf "%v|%s|%d" .nope .nope .nope}}', '<nil>|%!s(<nil>)|%!d(<nil>)'),
    ('{{.nope | printf "%v"}}', '<nil>'),
    ('{{.spec.containers | len}}', '2'),
    ('{{"abc" | printf "%s %s" "x"}}', 'x abc'),
    ('{{.metadata.name | eq "web-1"}}', 'true'),
    ('{{if .x}}{{else if .y}}{{else if .z}}{{end}}', ''),
    ('{{with .metadata}}{{.name}}{{else with .spec}}x{{end}}', 'web-1'),
    ('{{with .nope}}a{{else with .metadata}}{{.name}}{{end}}', 'web-1'),
    ('{{range $k, $v := .spec.containers}}{{$k}}{{end}}', '01'),
    ('{{range $v := .spec.containers}}{{$v.name}}{{end}}', 'appside'),
    ('{{range .spec.containers}}{{.name}}{{else}}x{{end}}', 'appside'),
    ('{{$x := .metadata}}{{$x.labels.app}}', 'web'),
    ('{{$.metadata.name}}', 'web-1'),
    ('{{$x := 1}}{{range .spec.containers}}{{$x = 2}}{{end}}{{$x}}', '2'),
    ('{{(.metadata).name}}', 'web-1'),
    ('{{(index .spec.containers 0).ports}}', '[map[containerPort:80 name:http] map[containerPort:443]]'),
    ('{{$c := index .spec.containers 0}}{{$c.name}}', 'app'),
    ('{{.}}x',
     'map[apiVersion:v1 kind:Pod metadata:map[annotations:map[empty: html:<a&b> secret:aGVsbG8gd29y'
     'bGQ= uni:héllo ☃] labels:map[app:web tier:front x:y] name:web-1 namespace:default] spec:map[c'
     'ontainers:[map[args:[a b c d"e] image:nginx:1.27 name:app ports:[map[containerPort:80 name:ht'
     'tp] map[containerPort:443]]] map[image:busybox name:side stdin:true]] hostNetwork:false nodeS'
     'elector:map[] priority:-5 terminationGracePeriodSeconds:100000000]]x'),
    ('{{.spec.nodeSelector.a}}', '<no value>'),
    ('{{index .spec.containers 0 "ports" 0 "containerPort" | printf "%d"}}', '80'),
    ('{{printf "%s" .spec.containers}}',
     '[map[args:[a b c d"e] image:nginx:1.27 name:app ports:[map[containerPort:%!s(int64=80) name:h'
     'ttp] map[containerPort:%!s(int64=443)]]] map[image:busybox name:side stdin:%!s(bool=true)]]'),
    ('{{printf "%d" .spec.containers}}',
     '[map[%!d(string=args):[%!d(string=a) %!d(string=b c) %!d(string=d"e)] %!d(string=image):%!d(s'
     'tring=nginx:1.27) %!d(string=name):%!d(string=app) %!d(string=ports):[map[%!d(string=containe'
     'rPort):80 %!d(string=name):%!d(string=http)] map[%!d(string=containerPort):443]]] map[%!d(str'
     'ing=image):%!d(string=busybox) %!d(string=name):%!d(string=side) %!d(string=stdin):%!d(bool=t'
     'rue)]]'),
    ('{{printf "%q" .spec.containers}}',
     '[map["args":["a" "b c" "d\\"e"] "image":"nginx:1.27" "name":"app" "ports":[map["containerPort'
     '":\'P\' "name":"http"] map["containerPort":\'ƻ\']]] map["image":"busybox" "name":"side" "stdi'
     'n":%!q(bool=true)]]'),
    ('{{printf "%x %X" "hi" .metadata.name}}', '6869 7765622D31'),
    ('{{printf "%5.2f|%e|%g|%.3g|%8.3f" 3.14159 1234.5678 0.000012 3.14159 2.0}}',
     ' 3.14|1.234568e+03|1.2e-05|3.14|   2.000'),
    ('{{printf "%+d % d %+v %#v" 5 5 .metadata.labels .metadata.labels}}',
     '+5  5 map[app:web tier:front x:y] map[string]interface {}{"app":"web", "tier":"front", "x":"y"}'),
    ('{{printf "%v %v %v %v" 1.0 1e21 1e20 123456789.0}}', '1 1e+21 1e+20 1.23456789e+08'),
    ('{{printf "%v %v %v" 0.000001 0.0001 100000.5}}', '1e-06 0.0001 100000.5'),
    ('{{printf "%d %s" 1.5 true}}', '%!d(float64=1.5) %!s(bool=true)'),
    ('{{printf "%z" 1}}', '%!z(int=1)'),
    ('{{printf "%!" 1}}', '%!!(int=1)'),
    ('{{printf "%" }}', '%!(NOVERB)'),
    ('{{printf "%*d" 4 1}}', '   1'),
    ('{{printf "%-8q|" "a"}}', '"a"     |'),
    ('{{printf "%6.2s|" "abcdef"}}', '    ab|'),
    ('{{printf "%c%c" 104 105}}', 'hi'),
    ('{{printf "%U" 65}}', 'U+0041'),
    ('{{printf "%b" 5}}', '101'),
    ('{{printf "%t" 1}}', '%!t(int=1)'),
    ('{{print "a" 1 2 "b" .nope true false}}', 'a1 2b<nil> true false'),
    ('{{print .metadata.labels 1}}', 'map[app:web tier:front x:y] 1'),
    ('{{println .metadata.name 1 "x"}}', 'web-1 1 x\n'),
    ('{{printf "%v" .metadata.annotations.html}}', '<a&b>'),
    ('{{printf "%q" .metadata.annotations.uni}}', '"héllo ☃"'),
    ('{{printf "%x" .metadata.annotations.uni}}', '68c3a96c6c6f20e29883'),
    ('{{printf "%s" nil}}', '%!s(<nil>)'),
    ('{{printf "%d" nil}}', '%!d(<nil>)'),
    ('{{.metadata.annotations.empty}}|', '|'),
    ('{{1.0}} {{1e21}} {{1e20}} {{123456789.0}} {{0.1}} {{1_000}} {{0b101}} {{0o17}} {{017}} {{0x1p'
     '4}} {{+5}} {{.5}} {{5.}}',
     '1 1e+21 1e+20 1.23456789e+08 0.1 1000 5 15 15 16 5 0.5 5'),
    ("{{'\\n'}}", '10'),
    ('{{"\\101\\U0001F600"}}', 'A😀'),
    ('a  {{- .metadata.name -}}  \n b', 'aweb-1b'),
    ('{{.metadata.name}} \n {{- "x" }}', 'web-1x'),
    ('{{- .metadata.name}}', 'web-1'),
    ('x\n{{- /* c */ -}}\ny', 'xy'),
    ('{{/* a\nb */}}z', 'z'),
    ('{{ -3 }}', '-3'),
    ('{{ .metadata.name -}}\n\n\nq', 'web-1q'),
    ('{{.metadata.name  -}}q', 'web-1q'),
    ('{{range $i, $c := .spec.containers}}{{range $c.ports}}{{$i}}:{{.containerPort}} {{end}}{{end}}', '0:80 0:443 '),
    ('{{range .spec.containers}}{{range .args}}[{{.}}]{{else}}none{{end}}{{end}}', '[a][b c][d"e]none'),
    ('{{range $k, $v := .metadata}}{{$k}}={{if eq $k "name"}}{{$v}}{{else}}...{{end}};{{end}}',
     'annotations=...;labels=...;name=web-1;namespace=...;'),
    ('{{with .metadata}}{{with .labels}}{{.app}}-{{$.kind}}{{end}}{{end}}', 'web-Pod'),
    ('{{if and .metadata.labels (eq .metadata.labels.app "web")}}yes{{end}}', 'yes'),
    ('{{if or .nope .metadata.name}}{{.metadata.name}}{{end}}', 'web-1'),
    ('{{if not .nope}}missing{{end}}', 'missing'),
    ('{{.metadata.name | printf "%s:%s" "x"}}', 'x:web-1'),
    ('{{printf "%s" .metadata.name | printf "%q"}}', '"web-1"'),
    ('{{len (index .spec.containers 0).args}}', '3'),
    ('{{index . "metadata" "labels" "app"}}', 'web'),
    ('{{$n := len .spec.containers}}{{if gt $n 1}}many{{end}}', 'many'),
    ('{{if lt .spec.priority 0}}neg{{end}}', 'neg'),
    ('{{if ge .spec.terminationGracePeriodSeconds 100}}big{{end}}', 'big'),
    ('{{eq .kind "Pod" "Service"}}', 'true'),
    ('{{ne .kind "Pod"}}', 'false'),
    ('{{le "a" "b"}} {{gt 2.5 1.5}}', 'true true'),
    ('{{.spec.containers | len | printf "%d containers"}}', '2 containers'),
    ('{{range .spec.containers}}{{.image}}{{"\\n"}}{{end}}', 'nginx:1.27\nbusybox\n'),
    ('{{range .spec.containers}}{{println .name}}{{end}}', 'app\nside\n'),
    ('{{"tab\\there"}}', 'tab\there'),
    ('{{printf "%-10s|%10s|" .kind .metadata.name}}', 'Pod       |     web-1|'),
    ('{{range $i, $e := .spec.containers}}{{if $i}},{{end}}{{$e.name}}{{end}}', 'app,side'),
    ('{{range .spec.containers}}{{if eq .name "side"}}{{continue}}{{end}}{{.name}}{{end}}|{{range .'
     'spec.containers}}{{break}}{{end}}',
     'app|'),
    ('{{$x := "a"}}{{if true}}{{$x = "b"}}{{$y := 1}}{{end}}{{$x}}', 'b'),
    ('{{with $v := .metadata.labels.app}}{{$v}}{{end}}', 'web'),
    ('{{range $v := .metadata.labels}}{{$v}}{{end}}', 'webfronty'),
    ('{{ .metadata.labels.app | eq "web" }}', 'true'),
    ('{{$}}{{$.x.y}}',
     'map[apiVersion:v1 kind:Pod metadata:map[annotations:map[empty: html:<a&b> secret:aGVsbG8gd29y'
     'bGQ= uni:héllo ☃] labels:map[app:web tier:front x:y] name:web-1 namespace:default] spec:map[c'
     'ontainers:[map[args:[a b c d"e] image:nginx:1.27 name:app ports:[map[containerPort:80 name:ht'
     'tp] map[containerPort:443]]] map[image:busybox name:side stdin:true]] hostNetwork:false nodeS'
     'elector:map[] priority:-5 terminationGracePeriodSeconds:100000000]]<no value>'),
    ('{{index .spec.containers 0 "ports" 1 "name"}}', '<no value>'),
    ('{{exists .metadata "labels"}} {{exists .metadata.labels "x"}} {{exists .metadata.name 0}} {{e'
     'xists .spec.containers "a"}} {{exists .nope}} {{exists .}}',
     'true true true false true true'),
    ('{{slice .metadata.name 1}} {{slice .metadata.name 0 0}}|{{slice .spec.containers 2}}', 'eb-1 |[]'),
    ('{{index .metadata.annotations.uni 1}} {{slice .metadata.annotations.uni 0 2}}', '195 h�'),
    ('\n\n  {{- range .spec.containers}}\n  - {{.name}}\n{{- end}}\n', '\n  - app\n  - side\n'),
    ('{{range .spec.containers}}{{.ports}}{{end}}',
     '[map[containerPort:80 name:http] map[containerPort:443]]<no value>'),
    ('{{printf "%v" (index .spec.containers 0).ports}}', '[map[containerPort:80 name:http] map[containerPort:443]]'),
    ('{{printf "%d%%" 50}}', '50%'),
    ('{{printf "%s %s" "only"}}', 'only %!s(MISSING)'),
    ('{{printf "%5t|%-7v|%07.2f|%+.1e|%x" true "ab" 3.14159 12345.678 -255}}', ' true|ab     |0003.14|+1.2e+04|-ff'),
    ('{{printf "%08.3f|% d|%+d|%x" -3.5 -5 -5 ""}}', '-003.500|-5|-5|'),
    ('{{printf "%q %q %v" 65 "a\\tb" \'x\'}}', '\'A\' "a\\tb" 120'),
    ('{{printf "%.2f" 2.675}} {{printf "%.0f" 2.5}} {{printf "%6.3v" 3.14159}} {{printf "%g" 100000'
     '.0}} {{printf "%g" 1000000.0}} {{printf "%G" 1e-7}} {{printf "%e" 0.0}}',
     '2.67 2   3.14 100000 1e+06 1E-07 0.000000e+00'),
    ('{{printf "%s" .metadata.labels}} {{printf "%T" 1}} {{printf "%T %T %T" 1.5 "s" true}} {{print'
     'f "%T" .nope}}',
     'map[app:web tier:front x:y] int float64 string bool <nil>'),
    ('{{print 1.5 2}} {{print "x" nil}} {{println}}', '1.5 2 x<nil> \n'),
    ('{{html "<b>" 1}} {{urlquery "a/b?c=d e"}} {{js "x"}}', '&lt;b&gt;1 a%2Fb%3Fc%3Dd+e x'),
    ('{{ .metadata.name | html }}', 'web-1'),
    ('{{len "héllo"}}', '6'),
    ('{{$ := 1}}', ''),
    ('{{printf "%d" 9223372036854775807}}', '9223372036854775807'),
    ('{{-9223372036854775808}}', '-9223372036854775808'),
    ('{{.metadata.labels.app | printf "%s" | len}}', '3'),
    ('{{(len (index .spec.containers 0).args)}}', '3'),
    ('{{"a" | printf "%s%s" "b" | printf "%q"}}', '"ba"'),
    ('{{range $i,$c := .spec.containers}}{{$i}}{{end}}', '01'),
    ('{{$x := 1}}{{with .metadata}}{{$x := 2}}{{$x}}{{end}}{{$x}}', '21'),
    ('{{$x := 1}}{{range $x := .spec.containers}}{{end}}{{$x}}', '1'),
    ('{{- if true -}}\n  a\n{{- end -}}\n', 'a'),
    ('{{\'\\\'\'}}{{"\\""}}', '39"'),
    ('{{printf "%c" 0x1F600}}', '😀'),
    ('{{printf "%5.1f%%" 99.44}}', ' 99.4%'),
    ('{{printf "%x" 3.5}}', '0x1.cp+01'),
    ('{{printf "%v" (slice .spec.containers 1 1)}}', '[]'),
    ('{{range $i, $e := .metadata.labels}}{{$i}}{{end}}', 'apptierx'),
    ('{{range .spec.containers}}{{$.kind}}{{.name | printf "-%s"}}{{end}}', 'Pod-appPod-side'),
    ('{{if eq (len .spec.containers) 2}}two{{end}}', 'two'),
    ('{{index .metadata.labels "app" | printf "%s!"}}', 'web!'),
    ('{{"aGk=" | base64decode}}', 'hi'),
    ('{{1 | not}}', 'false'),
    ('{{.kind | and 1}}', 'Pod'),
    ('{{.kind | or 0}}', 'Pod'),
    ('{{ 1 | printf "%d" | print "n=" }}', 'n=1'),
    ('{{$a := .spec.containers}}{{range $a}}{{.name}}{{end}}{{len $a}}', 'appside2'),
    ('{{(index .spec.containers 1).stdin}}', 'true'),
    ('{{if (index .spec.containers 1).stdin}}stdin{{end}}', 'stdin'),
    ('{{range .spec.containers}}{{range .ports}}{{.containerPort}}{{break}}{{end}}{{end}}', '80'),
    ('{{with .spec}}{{range .containers}}{{$.metadata.name}}/{{.name}} {{end}}{{end}}', 'web-1/app web-1/side '),
    ('{{.metadata.labels.app}}\n{{.metadata.labels.tier}}\n', 'web\nfront\n'),
    ('{{printf "%s=%v" "a" .spec.hostNetwork}}', 'a=false'),
    ('{{printf "%6.2f|%-8.3e|" 1.0 123456.0}}', '  1.00|1.235e+05|'),
    ('{{printf "%g %g %g" 1e-5 123456789.0 0.5}}', '1e-05 1.23456789e+08 0.5'),
    ('{{le 1 1}} {{ge "b" "c"}} {{gt 2 1}} {{ne "a" "a"}}', 'true false true false'),
    ('{{printf "%05s|%-05d|%+q" "ab" 3 "é"}}', '000ab|3    |"\\u00e9"'),
]
"""(template, what kubectl printed) for templates that run."""

ERRORS: list[tuple[str, str, str]] = [
    ('{{.metadata.name.x}}', '',
     'template: output:1:11: executing "output" at <.metadata.name.x>: can\'t evaluate field x in t'
     'ype interface {}'),
    ('{{range .metadata.name}}x{{end}}', '',
     'template: output:1:17: executing "output" at <.metadata.name>: range can\'t iterate over web-1'),
    ('{{range 3}}{{.}}{{end}}', '', 'template: output:1:8: executing "output" at <3>: range can\'t iterate over 3'),
    ("{{1}} {{1.5}} {{0x10}} {{-3}} {{1e3}} {{'a'}} {{true}} {{nil}}", '1 1.5 16 -3 1000 97 true ',
     'template: output:1:57: executing "output" at <nil>: nil is not a command'),
    ('{{index .spec.containers 5}}', '',
     'template: output:1:2: executing "output" at <index .spec.containers 5>: error calling index: '
     'index out of range: 5'),
    ('{{eq 1 "a"}}', '',
     'template: output:1:2: executing "output" at <eq 1 "a">: error calling eq: incompatible types '
     'for comparison'),
    ('{{lt 1 1.5}}', '',
     'template: output:1:2: executing "output" at <lt 1 1.5>: error calling lt: incompatible types '
     'for comparison'),
    ('{{eq .spec.containers .spec.containers}}', '',
     'template: output:1:2: executing "output" at <eq .spec.containers .spec.containers>: error cal'
     'ling eq: non-comparable type [map[args:[a b c d"e] image:nginx:1.27 name:app ports:[map[conta'
     'inerPort:%!s(int64=80) name:http] map[containerPort:%!s(int64=443)]]] map[image:busybox name:'
     'side stdin:%!s(bool=true)]]: []interface {}'),
    ('{{.x', '', 'template: output:1: unclosed action'),
    ('{{.x}', '', "template: output:1: bad character U+007D '}'"),
    ('a\n{{.x,}}', '', 'template: output:2: unexpected "," in operand'),
    ('{{}}', '', 'template: output:1: missing value for command'),
    ('{{end}}', '', 'template: output:1: unexpected {{end}}'),
    ('{{if .x}}a', '', 'template: output:1: unexpected EOF'),
    ('{{if .x}}a{{else}}b{{else}}c{{end}}', '', 'template: output:1: expected end; found {{else}}'),
    ('{{else}}', '', 'template: output:1: unexpected {{else}}'),
    ('{{range}}{{end}}', '', 'template: output:1: missing value for range'),
    ('{{$x}}', '', 'template: output:1: undefined variable "$x"'),
    ('{{break}}', '', 'template: output:1: {{break}} outside {{range}}'),
    ('{{continue}}', '', 'template: output:1: {{continue}} outside {{range}}'),
    ('{{"abc}}', '', 'template: output:1: unterminated quoted string'),
    ('{{`abc}}', '', 'template: output:1: unterminated raw quoted string'),
    ('{{"\\z"}}', '', 'template: output:1: invalid syntax'),
    ('{{| .x}}', '', 'template: output:1: unexpected "|" in command'),
    ('{{.x 1}}', '', 'template: output:1:2: executing "output" at <.x>: x is not a method but has arguments'),
    ('{{1 2}}', '', 'template: output:1:2: executing "output" at <1>: can\'t give argument to non-function 1'),
    ('{{"a" .x}}', '', 'template: output:1:2: executing "output" at <"a">: can\'t give argument to non-function "a"'),
    ('{{(1}}', '', 'template: output:1: unclosed left paren'),
    ('{{1)}}', '', 'template: output:1: unexpected right paren'),
    ('{{.x.}}', '', 'template: output:1: unexpected <.> in operand'),
    ('{{$x = 1}}', '', 'template: output:1:7: executing "output" at <1>: undefined variable: $x'),
    ('{{range $i, $j, $k := .x}}{{end}}', '', 'template: output:1: too many declarations in range'),
    ('{{if $x := 1}}{{$x}}{{end}}{{$x}}', '', 'template: output:1: undefined variable "$x"'),
    ('{{range .spec.containers}}{{$y := .name}}{{end}}{{$y}}', '', 'template: output:1: undefined variable "$y"'),
    ('{{/* unclosed', '', 'template: output:1: unclosed comment'),
    ('{{/*a*/ .x}}', '', 'template: output:1: comment ends before closing delimiter'),
    ('{{index}}', '',
     'template: output:1:2: executing "output" at <index>: wrong number of args for index: want at '
     'least 1 got 0'),
    ('{{len}}', '', 'template: output:1:2: executing "output" at <len>: wrong number of args for len: want 1 got 0'),
    ('{{len 1 2}}', '',
     'template: output:1:2: executing "output" at <len>: wrong number of args for len: want 1 got 2'),
    ('{{len 3}}', '', 'template: output:1:2: executing "output" at <len 3>: error calling len: len of type int'),
    ('{{len .nope}}', '',
     'template: output:1:2: executing "output" at <len .nope>: error calling len: reflect: call of '
     'reflect.Value.Type on zero Value'),
    ('{{len .metadata.creationTimestamp}}', '',
     'template: output:1:2: executing "output" at <len .metadata.creationTimestamp>: error calling '
     'len: reflect: call of reflect.Value.Type on zero Value'),
    ('{{index .metadata.labels 1}}', '',
     'template: output:1:2: executing "output" at <index .metadata.labels 1>: error calling index: '
     'value has type int; should be string'),
    ('{{index .spec.containers "a"}}', '',
     'template: output:1:2: executing "output" at <index .spec.containers "a">: error calling index'
     ': cannot index slice/array with type string'),
    ('{{index .spec.containers 2}}', '',
     'template: output:1:2: executing "output" at <index .spec.containers 2>: error calling index: '
     'reflect: slice index out of range'),
    ('{{index .spec.containers -1}}', '',
     'template: output:1:2: executing "output" at <index .spec.containers -1>: error calling index:'
     ' index out of range: -1'),
    ('{{index .nope 0}}', '',
     'template: output:1:2: executing "output" at <index .nope 0>: error calling index: index of untyped nil'),
    ('{{index 3 0}}', '',
     'template: output:1:2: executing "output" at <index 3 0>: error calling index: can\'t index it'
     'em of type int'),
    ('{{slice .metadata.name 3 1}}', '',
     'template: output:1:2: executing "output" at <slice .metadata.name 3 1>: error calling slice: '
     'invalid slice index: 3 > 1'),
    ('{{slice .metadata.name 1 2 3}}', '',
     'template: output:1:2: executing "output" at <slice .metadata.name 1 2 3>: error calling slice'
     ': cannot 3-index slice a string'),
    ('{{slice .spec.containers 0 9}}', '',
     'template: output:1:2: executing "output" at <slice .spec.containers 0 9>: error calling slice'
     ': index out of range: 9'),
    ('{{slice 3}}', '',
     'template: output:1:2: executing "output" at <slice 3>: error calling slice: can\'t slice item'
     ' of type int'),
    ('{{slice .nope}}', '',
     'template: output:1:2: executing "output" at <slice .nope>: error calling slice: slice of untyped nil'),
    ('{{not}}', '', 'template: output:1:2: executing "output" at <not>: wrong number of args for not: want 1 got 0'),
    ('{{not 1 2}}', '',
     'template: output:1:2: executing "output" at <not>: wrong number of args for not: want 1 got 2'),
    ('{{and}}', '',
     'template: output:1:2: executing "output" at <and>: wrong number of args for and: want at least 1 got 0'),
    ('{{eq 1}}', '',
     'template: output:1:2: executing "output" at <eq 1>: error calling eq: missing argument for comparison'),
    ('{{eq}}', '',
     'template: output:1:2: executing "output" at <eq>: wrong number of args for eq: want at least 1 got 0'),
    ('{{lt .metadata .metadata}}', '',
     'template: output:1:2: executing "output" at <lt .metadata .metadata>: error calling lt: inval'
     'id type for comparison'),
    ('{{lt true false}}', '',
     'template: output:1:2: executing "output" at <lt true false>: error calling lt: invalid type f'
     'or comparison'),
    ('{{lt .nope 1}}', '',
     'template: output:1:2: executing "output" at <lt .nope 1>: error calling lt: invalid type for comparison'),
    ('{{eq .metadata.name 1}}', '',
     'template: output:1:2: executing "output" at <eq .metadata.name 1>: error calling eq: incompat'
     'ible types for comparison'),
    ('{{base64decode}}', '',
     'template: output:1:2: executing "output" at <base64decode>: wrong number of args for base64de'
     'code: want 1 got 0'),
    ('{{base64decode 1}}', '', 'template: output:1:15: executing "output" at <1>: expected string; found 1'),
    ('{{base64decode .nope}}', '',
     'template: output:1:15: executing "output" at <.nope>: invalid value; expected string'),
    ('{{base64decode .metadata.labels}}', '',
     'template: output:1:24: executing "output" at <.metadata.labels>: wrong type for value; expect'
     'ed string; got map[string]interface {}'),
    ('{{printf}}', '',
     'template: output:1:2: executing "output" at <printf>: wrong number of args for printf: want a'
     't least 1 got 0'),
    ('{{printf 1}}', '', 'template: output:1:9: executing "output" at <1>: expected string; found 1'),
    ('{{.metadata.name.x.y}}', '',
     'template: output:1:11: executing "output" at <.metadata.name.x.y>: can\'t evaluate field x in'
     ' type interface {}'),
    ('{{.metadata.labels.app.zz}}', '',
     'template: output:1:11: executing "output" at <.metadata.labels.app.zz>: can\'t evaluate field'
     ' zz in type interface {}'),
    ('{{.metadata.name}}{{.metadata.name.x}}{{.metadata.name}}', 'web-1',
     'template: output:1:29: executing "output" at <.metadata.name.x>: can\'t evaluate field x in t'
     'ype interface {}'),
    ('{{\n.metadata.name.x\n}}', '',
     'template: output:2:9: executing "output" at <.metadata.name.x>: can\'t evaluate field x in ty'
     'pe interface {}'),
    ('line1\nline2 {{.metadata.name.x}}', 'line1\nline2 ',
     'template: output:2:17: executing "output" at <.metadata.name.x>: can\'t evaluate field x in t'
     'ype interface {}'),
    ('{{"\\a\\b\\f\\v\\\\\\\'"}}', '', 'template: output:1: invalid syntax'),
    ('{{3 - }}', '', 'template: output:1: illegal number syntax: "-"'),
    ('{{range .spec.containers}}{{.name.x}}{{end}}', '',
     'template: output:1:33: executing "output" at <.name.x>: can\'t evaluate field x in type interface {}'),
    ('{{range $c := .spec.containers}}{{$c.name.x}}{{end}}', '',
     'template: output:1:36: executing "output" at <$c.name.x>: can\'t evaluate field x in type interface {}'),
    ('{{range .spec.containers}}{{.ports.x}}{{end}}', '',
     'template: output:1:34: executing "output" at <.ports.x>: can\'t evaluate field x in type interface {}'),
    ('{{range $k, $v := .metadata.labels}}{{$k.x}}{{end}}', '',
     'template: output:1:40: executing "output" at <$k.x>: can\'t evaluate field x in type string'),
    ('{{ne}}', '', 'template: output:1:2: executing "output" at <ne>: wrong number of args for ne: want 2 got 0'),
    ('{{ne 1}}', '', 'template: output:1:2: executing "output" at <ne>: wrong number of args for ne: want 2 got 1'),
    ('{{lt 1 2 3}}', '', 'template: output:1:2: executing "output" at <lt>: wrong number of args for lt: want 2 got 3'),
    ('{{.spec.containers.x}}', '',
     'template: output:1:7: executing "output" at <.spec.containers.x>: can\'t evaluate field x in '
     'type interface {}'),
    ('{{index .spec.containers 0 "ports" 1 "name" "x"}}', '',
     'template: output:1:2: executing "output" at <index .spec.containers 0 "ports" 1 "name" "x">: '
     'error calling index: index of nil pointer'),
    ('{{.metadata.name}}\n{{.kind.x}}', 'web-1\n',
     'template: output:2:7: executing "output" at <.kind.x>: can\'t evaluate field x in type interface {}'),
    ('{{if .x}}a{{else}}b{{end x}}', '', 'template: output:1: unexpected "x" in end'),
    ('{{range .x}}{{else if .y}}{{end}}', '', 'template: output:1: unexpected <if> in input'),
    ('{{with}}{{end}}', '', 'template: output:1: missing value for with'),
    ('{{if}}{{end}}', '', 'template: output:1: missing value for if'),
    ('{{.x | 1}}', '', 'template: output:1: non executable command in pipeline stage 2'),
    ('{{.x | "a"}}', '', 'template: output:1: non executable command in pipeline stage 2'),
    ('{{nil}}', '', 'template: output:1:2: executing "output" at <nil>: nil is not a command'),
    ('{{nil.x}}', '', 'template: output:1: unexpected . after term "nil"'),
    ('{{"a".x}}', '', 'template: output:1: unexpected . after term "\\"a\\""'),
    ('{{.x := 1}}', '', 'template: output:1: unexpected ":=" in operand'),
    ('{{$x := }}', '', 'template: output:1: missing value for command'),
    ('{{$x, $y := 1}}', '', 'template: output:1: too many declarations in command'),
    ('{{range $x, := .x}}{{end}}', '', 'template: output:1: range can only initialize variables'),
    ('{{range $i, 1 := .x}}{{end}}', '', 'template: output:1: range can only initialize variables'),
    ("{{'ab'}}", '', "template: output:1: malformed character constant: 'ab'"),
    ("{{'a}}", '', 'template: output:1: unterminated character constant'),
    ('{{0x}}', '', 'template: output:1: illegal number syntax: "0x"'),
    ('{{1.2.3}}', '', 'template: output:1: unexpected ".3" in operand'),
    ('{{9223372036854775808}}', '',
     'template: output:1:2: executing "output" at <9223372036854775808>: 9223372036854775808 overflows int'),
    ('{{99999999999999999999}}', '', 'template: output:1: integer overflow: "99999999999999999999"'),
    ('{{é}}', '', 'template: output:1: function "é" not defined'),
    ('{{#}}', '', 'template: output:1: unexpected "#" in command'),
    ('{{.a#b}}', '', "template: output:1: bad character U+0023 '#'"),
    ('{{1e500}}', '', 'template: output:1: illegal number syntax: "1e500"'),
    ('{{.metadata.name | printf "%s" | base64decode}}', '',
     'template: output:1:33: executing "output" at <base64decode>: error calling base64decode: base'
     '64 decode failed: illegal base64 data at input byte 3'),
]
"""(template, what kubectl printed before failing, the Go error in its message)."""

NULLS: list[tuple[str, str]] = [
    ("{{.metadata}}", "map[creationTimestamp:<nil> name:x]"),
    ("{{.metadata.creationTimestamp}}", "<no value>"),
    ("{{eq .metadata.creationTimestamp nil}}", "true"),
    ('{{printf "%v|%T" .metadata.creationTimestamp .metadata.creationTimestamp}}', "<nil>|<nil>"),
    ("{{with .metadata.creationTimestamp}}y{{else}}n{{end}}", "n"),
    ('{{exists . "metadata" "creationTimestamp"}}', "false"),
    (".metadata.creationTimestamp.x",
     'template: output:1:11: executing "output" at <.metadata.creationTimestamp.x>: '
     "nil pointer evaluating interface {}.x"),
    ("len .metadata.creationTimestamp",
     'template: output:1:2: executing "output" at <len .metadata.creationTimestamp>: '
     "error calling len: len of nil pointer"),
    ("base64decode .metadata.creationTimestamp",
     'template: output:1:24: executing "output" at <.metadata.creationTimestamp>: '
     "wrong type for value; expected string; got interface {}"),
    ("index .metadata.creationTimestamp 0",
     'template: output:1:2: executing "output" at <index .metadata.creationTimestamp 0>: '
     "error calling index: index of untyped nil"),
]
"""A JSON null (``creationTimestamp: null``): ``<no value>`` printed, a nil interface in a chain."""


def run(template: str, data: Any = POD) -> str:
    return GoTemplate.parse(template).execute(data)


@pytest.mark.parametrize(("template", "printed"), OUTPUTS)
def test_output_as_kubectl_prints_it(template: str, printed: str) -> None:
    assert run(template) == printed


@pytest.mark.parametrize(("template", "printed", "error"), ERRORS)
def test_errors_in_kubectls_words(template: str, printed: str, error: str) -> None:
    with pytest.raises((ParseError, ExecError)) as caught:
        run(template)
    assert str(caught.value) == error
    if isinstance(caught.value, ExecError):
        assert caught.value.output == printed
    else:
        assert error.startswith("template: output:") and not printed


@pytest.mark.parametrize(("template", "expected"), NULLS)
def test_json_null(template: str, expected: str) -> None:
    if template.startswith("{{"):
        assert run(template, CONFIGMAP) == expected
        return
    with pytest.raises(ExecError) as caught:
        run("{{" + template + "}}", CONFIGMAP)
    assert str(caught.value) == expected


def test_debug_dump_is_what_kubectl_writes_to_stdout() -> None:
    template = "{{.data.a}}|{{.metadata.name.x}}"
    with pytest.raises(ExecError) as caught:
        run(template, CONFIGMAP)
    assert caught.value.output + debug_dump(template, CONFIGMAP, caught.value) == (
        "b|Error executing template: template: output:1:23: executing \"output\" at <.metadata.name.x>: "
        "can't evaluate field x in type interface {}. Printing more information for debugging the template:\n"
        "\ttemplate was:\n\t\t{{.data.a}}|{{.metadata.name.x}}\n"
        "\traw data was:\n"
        '\t\t{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x","creationTimestamp":null},'
        '"data":{"a":"b","c":"d e"}}\n'
        "\tobject given to template engine was:\n"
        "\t\tmap[apiVersion:v1 data:map[a:b c:d e] kind:ConfigMap metadata:map[creationTimestamp:<nil> name:x]]\n\n")


@pytest.mark.parametrize(("fmt", "args", "text"), [
    ("%v %v %v %v", [1.0, 1e21, 1e20, 123456789.0], "1 1e+21 1e+20 1.23456789e+08"),
    ("%d|%s", [[1, "a"], {"k": True}], "[1 %!d(string=a)]|map[k:%!s(bool=true)]"),
    ("%[1]d", [1], None),
])
def test_sprintf(fmt: str, args: list[Any], text: str | None) -> None:
    if text is None:
        with pytest.raises(ValueError, match="argument indexes"):
            sprintf(fmt, args)
    else:
        assert sprintf(fmt, args) == text


@pytest.mark.parametrize("template", ['{{define "x"}}a{{end}}', '{{template "x"}}', '{{block "x" .}}a{{end}}',
                                      "{{call .x}}", "{{1i}}"])
def test_unsupported_constructs_are_named(template: str) -> None:
    with pytest.raises(ParseError, match="not supported by skiffctl's go-template printer"):
        GoTemplate.parse(template)


# ---- through printers: -o parsing, kubectl's framing of the errors, the List of several objects ----


def configmap(name: str) -> Any:
    return from_manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": name}})


def test_output_flag_forms(tmp_path: Path) -> None:
    assert parse_output("go-template={{.a}}") == OutputFormat("go-template", "{{.a}}")
    assert parse_output("template={{.a}}") == OutputFormat("go-template", "{{.a}}")
    (tmp_path / "t.tmpl").write_text("{{.metadata.name}}\n")
    assert parse_output(f"go-template-file={tmp_path}/t.tmpl") == OutputFormat("go-template", "{{.metadata.name}}\n")
    assert parse_output(f"templatefile={tmp_path}/t.tmpl").arg == "{{.metadata.name}}\n"
    for spec in ("go-template", "go-template=", "template", "templatefile="):
        with pytest.raises(UsageError, match="^error: template format specified but no template given$"):
            parse_output(spec)
    with pytest.raises(UsageError) as caught:
        parse_output("go-template-file=/nonexist")
    assert str(caught.value) == "error: error reading --template /nonexist, open /nonexist: no such file or directory"
    with pytest.raises(UsageError) as caught:
        parse_output("go-template={{.x, }}")
    assert str(caught.value) == 'error: error parsing template {{.x, }}, template: output:1: unexpected "," in operand'


def test_render_one_object_and_a_list() -> None:
    one = render_generic([configmap("a")], parse_output("go-template={{.metadata.name}}:{{.data.a}}"), single=True)
    assert one == "a:a"
    several = render_generic([configmap("a"), configmap("b")], parse_output(
        'go-template={{.kind}}{{range .items}} {{.metadata.name}}{{end}}{{"\\n"}}'))
    assert several == "List a b\n"


def test_render_execution_error_in_kubectls_words() -> None:
    with pytest.raises(UsageError) as caught:
        render_generic([configmap("a")], parse_output('go-template={{index .data "a" 0 1}}'), single=True)
    assert str(caught.value) == (
        'error: error executing template "{{index .data \\"a\\" 0 1}}": template: output:1:2: executing "output" at '
        '<index .data "a" 0 1>: error calling index: can\'t index item of type uint8')
