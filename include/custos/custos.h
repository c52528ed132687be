/*
 * custos — a governed face-search system for a driver-licence photo database.
 *
 * The umbrella header of libcustos's public API.  Front ends (the custos
 * command and the HTTP server) include only this header, so every rule the
 * library enforces holds for them too.
 */
#ifndef CUSTOS_H
#define CUSTOS_H

#include "custos/version.h"
#include "custos/error.h"
#include "custos/image.h"
#include "custos/index.h"
#include "custos/audit.h"
#include "custos/core.h"
#include "custos/face.h"
#include "custos/policy.h"
#include "custos/cases.h"

#endif
