/*
 * The perfect-foresight optimum of a house battery (enphase.optimum): a
 * dynamic program over the state of charge, pure C with no Lua. The
 * method, its grid and its error bound are in doc/optimum.md.
 *
 * The run is cut into steps of constant load, PV and prices. In one step
 * the battery can hold any AC power from full charge to full discharge
 * (the lab's modes, with limits and windows as fine as wanted), and can
 * share the step's time between two such powers; so the cheapest cost of
 * a change x of the stored energy is the lower convex hull of the cost at
 * four powers (full discharge, exactly covering the net load, idle, full
 * charge). The DP walks a grid of stored energies backwards; a dual
 * (Lagrangian) bound from its value function says how far the grid's best
 * can be from the exact optimum.
 */
#ifndef ENPHASE_SOC_DP_H
#define ENPHASE_SOC_DP_H

#include <stddef.h>

/* One step of constant inputs. */
struct dp_step {
    double hours;
    double load_kw, pv_kw;
    double import_price, export_price; /* per kWh */
};

/* The battery and the grid of the DP. */
struct dp_battery {
    double capacity_kwh;
    double max_charge_kw, max_discharge_kw; /* AC */
    double efficiency;                      /* round trip, (0, 1] */
    double initial_kwh;                     /* stored at the start */
    double min_kwh; /* lowest stored energy a discharge may reach */
    int grid;       /* grid intervals per capacity; 0: chosen from n */
};

/* What the optimum does in one step (energies in kWh, AC side). */
struct dp_move {
    double energy_kwh; /* stored at the end of the step */
    double charge_kwh, discharge_kwh;
    double import_kwh, export_kwh;
    double cost;
};

/* The result: the optimum's cost (reached on the grid), a lower bound on
 * the exact optimum, the grid used, and one move per step. */
struct dp_result {
    double cost, lower_bound;
    double grid_kwh;
    int states;
    struct dp_move *moves; /* n of them, malloc'd: dp_free */
};

/* Solves `n` steps. Returns 0, or -1 with `*why` set to a static
 * message (bad input, or out of memory); nothing is left to free then. */
int dp_solve(const struct dp_step *steps, size_t n,
             const struct dp_battery *battery, struct dp_result *out,
             const char **why);

void dp_free(struct dp_result *r);

#endif
