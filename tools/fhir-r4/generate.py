#!/usr/bin/env python3
"""Derive custodia-fhir's R4 rules from the official definitions.

The input is the HL7 package `hl7.fhir.r4.examples` 4.0.1 (it carries the
specification's StructureDefinitions, ValueSets, CodeSystems,
SearchParameters and CompartmentDefinitions beside the examples), unpacked:

    npm pack hl7.fhir.r4.examples@4.0.1 && tar -xzf hl7.fhir.r4.examples-4.0.1.tgz
    python3 tools/fhir-r4/generate.py package crates/custodia-fhir/src/r4/rules.json \
        crates/custodia-types/src/resource_type.rs

The output is committed; CI regenerates it and fails on any difference, so
no rule in it is kept by hand. The second output is the ledger's
`ResourceType`: every R4 resource type with its one-byte tag on chain (its
place in alphabetical order). What rules.json holds:

- `resources`: every concrete R4 resource type.
- `elements`: per element path (`Observation.status`, `Quantity.comparator`,
  choice forms spelt out: `Observation.valueQuantity`), what a validator
  needs beyond structure: the element's type (to walk into data types and
  backbone elements), the value set of a required binding on a `code`, and
  the resource types a Reference may target.
- `value_sets`: the codes of each required value set that can be listed
  from the package (`unlisted` names those that cannot: external code
  systems such as MIME types).
- `compartment`: per resource type, the element paths through which it
  belongs to a patient's compartment (CompartmentDefinition `patient` and
  the SearchParameters it names). Types absent are in no patient's
  compartment.
- `search`: per resource type (and `Resource` for the parameters of every
  type), each SearchParameter of type token, string, date, reference or
  uri, with the element paths its FHIRPath expression selects, in a small
  path language a node evaluates on JSON:
  - `a.b`: element `b` of element `a` (lists are walked);
  - a choice element is spelt out per type: `effectiveDateTime`,
    `effectivePeriod` for `effective` (`as dateTime` keeps one);
  - `a[k=v]`: only the `a` whose `k` is `v` (`.where(k='v')`);
  - `a@Patient`: a Reference to a Patient (`.where(resolve() is Patient)`).
  Expressions outside this language (extensions, `exists()`) are listed
  in `search_unsupported` and their parameters are not offered.
"""

import json
import os
import re
import sys

SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


def load(package, prefix):
    for name in sorted(os.listdir(package)):
        if name.startswith(prefix) and name.endswith(".json"):
            with open(os.path.join(package, name), encoding="utf-8") as f:
                yield json.load(f)


def cap(s):
    return s[0].upper() + s[1:]


def structure(package):
    resources, datatypes, primitives = [], {}, set()
    for sd in load(package, "StructureDefinition-"):
        if sd.get("derivation") != "specialization":
            continue
        kind = sd["kind"]
        if kind == "primitive-type":
            primitives.add(sd["type"])
        elif kind == "resource" and not sd["abstract"]:
            resources.append(sd)
        elif kind == "complex-type":
            datatypes[sd["type"]] = sd
    return resources, datatypes, primitives


def element_rules(sds, primitives, required_sets):
    elements = {}
    for sd in sds:
        for e in sd["snapshot"]["element"]:
            path = e["path"]
            if "." not in path:
                continue
            if "contentReference" in e:
                elements[path] = {"same_as": e["contentReference"].lstrip("#")}
                continue
            types = e.get("type", [])
            binding = e.get("binding", {})
            choice = path.endswith("[x]")
            for t in types:
                code = t["code"]
                if code.startswith("http://hl7.org/fhirpath/"):
                    continue  # id and extension url: System.String, format only
                key = path[:-3] + cap(code) if choice else path
                rule = {"type": code}
                if code == "code" and binding.get("strength") == "required":
                    vs = binding["valueSet"].split("|")[0]
                    rule["value_set"] = vs
                    required_sets.add(vs)
                if code == "Reference":
                    targets = sorted(
                        p[len(SD_PREFIX):] for p in t.get("targetProfile", [])
                        if p.startswith(SD_PREFIX)
                    )
                    if targets and "Resource" not in targets:
                        rule["targets"] = targets
                if code in primitives and len(rule) == 1:
                    continue  # nothing to check beyond fhirkit's formats
                elements[key] = rule
    return elements


def code_systems(package):
    systems = {}
    for cs in load(package, "CodeSystem-"):
        systems[cs["url"]] = cs
    return systems


def concepts(concept_list, parent_chain=()):
    """(code, ancestors) for every concept, nested ones included."""
    for c in concept_list:
        yield c["code"], parent_chain
        yield from concepts(c.get("concept", []), parent_chain + (c["code"],))


def expand(url, sets, systems, seen=()):
    """The codes of value set `url`, or None if they cannot be listed."""
    vs = sets.get(url)
    if vs is None or url in seen:
        return None
    compose = vs.get("compose")
    if compose is None:
        return None

    def part(inc):
        codes = None
        if "system" in inc:
            cs = systems.get(inc["system"])
            if "concept" in inc:
                codes = {c["code"] for c in inc["concept"]}
            elif cs is None or cs.get("content") != "complete":
                return None
            else:
                listed = list(concepts(cs.get("concept", [])))
                codes = {code for code, _ in listed}
                for f in inc.get("filter", []):
                    if f["op"] == "is-a":
                        codes = {c for c, up in listed if c == f["value"] or f["value"] in up}
                    elif f["op"] == "descendent-of":
                        codes = {c for c, up in listed if f["value"] in up}
                    else:
                        return None
        for other in inc.get("valueSet", []):
            more = expand(other.split("|")[0], sets, systems, seen + (url,))
            if more is None:
                return None
            codes = more if codes is None else codes & more
        return codes

    result = set()
    for inc in compose.get("include", []):
        codes = part(inc)
        if codes is None:
            return None
        result |= codes
    for exc in compose.get("exclude", []):
        codes = part(exc)
        if codes is None:
            return None
        result -= codes
    return sorted(result)


def compartment(package, resource_names):
    params = {}
    for sp in load(package, "SearchParameter-"):
        expression = sp.get("expression") or ""
        for base in sp.get("base", []):
            paths = []
            for alternative in expression.split("|"):
                alternative = alternative.strip()
                m = re.match(r"^" + base + r"\.([A-Za-z.]+?)(\.where\(.*\))?$", alternative)
                if m:
                    paths.append(m.group(1))
            params[(base, sp["code"])] = paths
    with open(os.path.join(package, "CompartmentDefinition-patient.json"), encoding="utf-8") as f:
        definition = json.load(f)
    out = {}
    for r in definition["resource"]:
        if r["code"] not in resource_names or not r.get("param"):
            continue
        paths = []
        for p in r["param"]:
            if p == "{def}":
                continue  # the Patient itself
            for path in params.get((r["code"], p), []):
                if path not in paths:
                    paths.append(path)
        out[r["code"]] = paths
    return out


SEARCH_TYPES = ("token", "string", "date", "reference", "uri")
ALTERNATIVE = re.compile(
    r"^\(?(?P<base>[A-Z][A-Za-z]*)(?P<steps>(?:\.[A-Za-z]+(?:\.where\([a-z]+='[^']*'\))?)+?)"
    r"(?:\.where\(resolve\(\) is (?P<target>[A-Za-z]+)\))?"
    r"(?: as (?P<as>[A-Za-z]+)\)|\.as\((?P<as2>[A-Za-z]+)\))?$"
)
STEP = re.compile(r"\.([A-Za-z]+)(?:\.where\(([a-z]+)='([^']*)'\))?")


def element_index(sds):
    """Element path -> (type codes, is choice), over resources and data types."""
    index = {}
    for sd in sds:
        for e in sd["snapshot"]["element"]:
            path = e["path"]
            codes = [t["code"] for t in e.get("type", [])]
            if "contentReference" in e:
                codes = ["#" + e["contentReference"].lstrip("#")]
            if path.endswith("[x]"):
                index[path[:-3]] = (codes, True)
            else:
                index[path] = (codes, False)
    return index


def resolve_steps(index, base, steps):
    """Spell out the element path `steps` of `base`: a list of alternatives,
    each a list of (name, filter); None where an element is unknown."""
    out = [[]]
    context = base
    for i, (name, key, value) in enumerate(steps):
        found = index.get(context + "." + name)
        if found is None:
            return None
        codes, choice = found
        last = i == len(steps) - 1
        names = [name + cap(c) for c in codes] if choice else [name]
        flt = f"[{key}={value}]" if key else ""
        out = [o + [n + flt] for o in out for n in names]
        if last:
            break
        if choice:
            return None  # a path through a choice: not in the language
        code = codes[0] if codes else ""
        if code.startswith("#"):
            context = code[1:]
        elif code in ("BackboneElement", "Element") or not code:
            context = context + "." + name
        else:
            context = code
    return out


def search_params(package, resource_names, index):
    search, unsupported = {}, []
    bases = set(resource_names) | {"Resource"}
    for sp in load(package, "SearchParameter-"):
        if sp["type"] not in SEARCH_TYPES:
            continue
        for base in sp.get("base", []):
            if base not in bases:
                continue
            paths = []
            ok = True
            for alternative in (sp.get("expression") or "").split("|"):
                alternative = alternative.strip()
                m = ALTERNATIVE.match(alternative)
                if m is None or m.group("base") != base:
                    if m is None and alternative.split(".")[0].lstrip("(") == base:
                        ok = False
                        unsupported.append(alternative)
                    continue
                steps = STEP.findall(m.group("steps"))
                spelt = resolve_steps(index, base, steps)
                kept = m.group("as") or m.group("as2")
                if spelt is not None and kept:
                    # `medication as CodeableConcept`: that form of the choice only.
                    form = steps[-1][0] + cap(kept)
                    spelt = [p for p in spelt if p[-1].split("[")[0] == form]
                if not spelt:
                    ok = False
                    unsupported.append(alternative)
                    continue
                for p in spelt:
                    text = ".".join(p) + ("@" + m.group("target") if m.group("target") else "")
                    if text not in paths:
                        paths.append(text)
            if ok and paths:
                search.setdefault(base, {})[sp["code"]] = {"type": sp["type"], "paths": paths}
    return (
        {base: dict(sorted(params.items())) for base, params in sorted(search.items())},
        sorted(set(unsupported)),
    )


RUST_HEADER = """\
// @generated by tools/fhir-r4/generate.py from hl7.fhir.r4.examples 4.0.1.
// Do not edit: CI regenerates this file and fails on any difference.

//! Every FHIR R4 resource type the ledger records, with its tag on chain
//! (its place in alphabetical order, fixed for R4).

use crate::ids::tagged_enum;
use bytes::BufMut;
use commonware_codec::{Buf, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};
use std::fmt;

tagged_enum! {
    /// A FHIR R4 resource type.
    ResourceType {
"""


def rust_resource_types(resource_names):
    lines = [RUST_HEADER]
    for tag, name in enumerate(resource_names):
        lines.append(f'        {name} = {tag} => "{name}",\n')
    lines.append("    }\n}\n")
    return "".join(lines)


def main():
    package, output, rust_output = sys.argv[1], sys.argv[2], sys.argv[3]
    resources, datatypes, primitives = structure(package)
    resource_names = sorted(sd["type"] for sd in resources)
    required_sets = set()
    elements = element_rules(resources + list(datatypes.values()), primitives, required_sets)
    sets = {vs["url"]: vs for vs in load(package, "ValueSet-")}
    systems = code_systems(package)
    value_sets, unlisted = {}, []
    for url in sorted(required_sets):
        codes = expand(url, sets, systems)
        if codes is None:
            unlisted.append(url)
        else:
            value_sets[url] = codes
    for rule in elements.values():
        if rule.get("value_set") in unlisted:
            del rule["value_set"]
    index = element_index(resources + list(datatypes.values()) + [
        sd for sd in load(package, "StructureDefinition-")
        if sd.get("type") in ("Resource", "DomainResource") and sd.get("kind") == "resource"
    ])
    search, search_unsupported = search_params(package, resource_names, index)
    rules = {
        "source": "hl7.fhir.r4.examples 4.0.1",
        "resources": resource_names,
        "datatypes": sorted(datatypes),
        "elements": dict(sorted(elements.items())),
        "value_sets": value_sets,
        "unlisted": unlisted,
        "compartment": compartment(package, set(resource_names)),
        "search": search,
        "search_unsupported": search_unsupported,
    }
    with open(output, "w", encoding="utf-8") as f:
        json.dump(rules, f, indent=0, sort_keys=False)
        f.write("\n")
    with open(rust_output, "w", encoding="utf-8") as f:
        f.write(rust_resource_types(resource_names))


if __name__ == "__main__":
    main()
