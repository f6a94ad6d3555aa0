/* The same cases in single precision, where central differences are only
 * good to a few digits: a looser bound, but the same ops and shapes, so a
 * precision-specific bug (a float-only code path) still shows. */
#include "check.h"
#include "op_cases.h"

int main(void)
{
    wg_gradcheck_opts opts = { .eps = 1e-2, .rtol = 2e-2, .atol = 2e-3 };
    int failures = run_op_cases(&opts, 7);
    CHECK(failures == 0, "%d gradient-check failures in single precision", failures);
    return check_done("test_gradcheck_float");
}
