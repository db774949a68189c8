// An experiment file (TOML, see docs/experiment-file.md) resolved into the sweep points it
// describes. Loading validates everything — data files, dimensions, every Problem and initial
// condition — so that a run never starts on input that would fail half-way.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dlnflow/catalog.hpp"
#include "dlnflow/init.hpp"
#include "dlnflow/problem.hpp"
#include "dlnflow/solve.hpp"

namespace dlnflow {

// Invalid experiment file: the message names file:line:column, the key and the accepted range.
class ExperimentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Which matrices trajectories.h5 keeps: none, the final state, the initial and the final state
// (endpoints), or the state at every record time.
enum class SaveStates { None, Final, Endpoints, Recorded };
const char* to_string(SaveStates s);  // "none", "final", "endpoints", "recorded" (the file's save_states)

// One swept key and its value at a point, e.g. initialization.alpha = 1e-6.
struct Coordinate {
  std::string path;
  std::string text;     // as written in summary.csv
  double number = 0.0;  // NaN for non-numeric values
  bool integer = false;  // written as an integer (trajectories.h5 keeps it one)
};

struct PointConfig {
  std::shared_ptr<const Problem> problem;
  std::shared_ptr<const CriticalPointCatalog> catalog;  // null unless record.critical_points
  InitSpec init;
  SolveOptions options;  // options.record.catalog points into `catalog`
  std::vector<std::string> event_names;
  SaveStates save_states = SaveStates::None;
  std::string resolved_json;  // this point's document with every default filled in
};

struct SweepPoint {
  int index = 0;
  std::vector<Coordinate> coordinates;
  PointConfig config;
};

namespace detail {
struct SweepSource;  // the parsed document and its caches (experiment.cpp)
}

struct Experiment {
  std::string name;
  std::string description;
  std::string source_path;        // the experiment file's canonical path (what the results record)
  std::vector<std::string> axes;  // swept key paths, in expansion order (last varies fastest)
  int seeds = 1;                  // trajectories per point, seed indices 0..seeds-1
  std::uint64_t seed = 0;         // Philox key shared by all points (common random numbers)
  int chunk_size = 64;            // trajectories per checkpoint
  std::string resolved_json;      // what the manifest records: point 0 resolved plus the sweep
  std::uint64_t fingerprint = 0;  // of everything that decides the results and the chunk plan (resume check)
  std::vector<std::string> warnings;  // input that is valid but probably not what was meant

  std::size_t point_count() const;
  std::size_t trajectories() const { return point_count() * static_cast<std::size_t>(seeds); }
  // Swept values of a point, without building it.
  std::vector<Coordinate> coordinates(std::size_t index) const;
  // A point, rebuilt from the document on demand so that a sweep of a million points is not
  // held in memory; problems, data and catalogues are shared between points that do not sweep
  // them. Every point was validated by load_experiment, so this does not throw for index <
  // point_count(). Thread-safe. Without with_resolved_json, config.resolved_json stays empty
  // (it is the costly part of a point that only the HDF5 writer needs).
  SweepPoint point(std::size_t index, bool with_resolved_json = true) const;

  std::shared_ptr<detail::SweepSource> sweep;
};

// Parses and validates; throws ExperimentError.
Experiment load_experiment(const std::string& path);
// The same from text; relative data paths resolve against base_dir.
Experiment parse_experiment(const std::string& toml_text, const std::string& source_name,
                            const std::string& base_dir);

}  // namespace dlnflow
