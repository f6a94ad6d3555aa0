/* Every op, every input, the hyperparameter grid: the tape's gradients
 * against central differences in double precision. The bound (relative
 * 1e-6 plus absolute 1e-8) is four orders below a 1% error in any one
 * element, which therefore fails. */
#include "check.h"
#include "op_cases.h"

int main(void)
{
    wg_set_num_threads(2);
    wg_gradcheck_opts opts = { .eps = 1e-6, .rtol = 1e-6, .atol = 1e-8 };
    int failures = run_op_cases(&opts, 20261124);
    CHECK(failures == 0, "%d gradient-check failures in double precision", failures);
    return check_done("test_gradcheck_ops");
}
