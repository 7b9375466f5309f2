#include "average_api.h"

#include <vector>

#include "dispatch.h"
#include "multi_tensor.h"
#include "parallel.h"

namespace regcore { namespace cpu {

void average_multi(const AvgTensor* ts, size_t count, double w) {
  if (w == 0.0) return;  // keep, in every dtype (a float64 zero rounds to zero)
  const AverageTable& k = active_average_table();
  const std::vector<TensorChunk> items =
      tensor_chunks(count, kStreamChunk, [&](size_t t) { return ts[t].n; });
  const std::vector<size_t> starts = pack_items(items, kStreamChunk);
  parallel_tasks(int64_t(starts.size()) - 1, [&](int64_t q) {
    for (size_t i = starts[size_t(q)]; i < starts[size_t(q) + 1]; ++i) {
      const TensorChunk& c = items[i];
      k.update(ts[c.t], c.begin, c.end, w);
    }
  });
}

}}  // namespace regcore::cpu
