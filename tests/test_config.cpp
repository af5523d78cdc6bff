// A run's settings and the enums they name: config <-> JSON keeps every field (the copy inside a checkpoint is
// what --resume trains on), every enum table round-trips, and a string that names no value is an error that
// lists the valid ones, never silently some other value.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "apps/gan/config.h"
#include "apps/gan/enum_names.h"
#include "expect_error.h"
#include "train_fixtures.h"

namespace {

namespace gan = gramgan::gan;
using gramgan::DType;
using gramgan::Pool;
using gramgan::TvMode;

// Every field away from its default, so a field that is not written or not read shows.
gan::TrainConfig unusual_config() {
  gan::TrainConfig c;
  c.content_dir = "photos";
  c.style_path = "style.png";
  c.vgg = "random";
  c.vgg_pool = Pool::average;
  c.size = 48;
  c.batch = 3;
  c.steps = 7;
  c.lambdas = {.content = 2.0, .style = 3e2, .adv = 0.25, .tv = 1e-3};
  c.content_layers = {"relu2_2", "relu3_1"};
  c.style_layers = {"relu1_1"};
  c.tv_mode = TvMode::squared;
  c.lr_g = 3e-4;
  c.lr_d = 5e-5;
  c.generator = {.width = 6, .residual_blocks = 2};
  c.discriminator = {.width = 5};
  c.device = "cuda:1";
  c.dtype = DType::float64;
  c.precision = gramgan::Precision::tf32;
  c.seed = 0xfedcba9876543210ull;
  c.out_dir = "runs/x";
  c.sample_every = 11;
  c.checkpoint_every = 13;
  c.arch = gan::Arch::adain;
  c.decoder = {.width = 7};
  c.content_target = gan::ContentTarget::photo;
  c.histogram_every = 17;
  c.calibrate = {"style", "tv"};
  c.calibrate_every = 9;
  return c;
}

TEST(ConfigJson, RoundTripsEveryField) {
  const gan::TrainConfig c = unusual_config();
  const std::string text = gan::config_to_json(c);
  const gan::TrainConfig back = gan::config_from_json(text, "test");
  EXPECT_EQ(gan::config_to_json(back), text);
  EXPECT_EQ(back.vgg_pool, Pool::average);
  EXPECT_EQ(back.tv_mode, TvMode::squared);
  EXPECT_EQ(back.dtype, DType::float64);
  EXPECT_EQ(back.seed, c.seed);
  EXPECT_EQ(back.generator.residual_blocks, 2);
  EXPECT_EQ(back.lambdas.adv, 0.25);
  EXPECT_EQ(back.content_layers, c.content_layers);
  // The keys are a file format: the spelling config.json has always had.
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(back.arch, gan::Arch::adain);
  EXPECT_EQ(back.decoder.width, 7);
  EXPECT_EQ(back.content_target, gan::ContentTarget::photo);
  EXPECT_EQ(back.calibrate, c.calibrate);
  EXPECT_EQ(back.calibrate_every, 9);
  EXPECT_EQ(j.size(), 32u);
  EXPECT_EQ(j.at("calibrate_every"), 9);
  EXPECT_EQ(j.at("precision"), "tf32");
  EXPECT_EQ(back.precision, gramgan::Precision::tf32);
  EXPECT_EQ(j.at("histogram_every"), 17);
  EXPECT_EQ(j.at("arch"), "adain");
  EXPECT_EQ(j.at("content_target"), "photo");
  EXPECT_EQ(j.at("vgg_pool"), "average");
  EXPECT_EQ(j.at("tv_mode"), "squared");
  EXPECT_EQ(j.at("dtype"), "float64");
  EXPECT_EQ(j.at("style"), "style.png");
  EXPECT_EQ(j.at("out"), "runs/x");
}

TEST(ConfigJson, UnknownEnumStringIsAnErrorNamingTheValidValues) {
  for (const auto& [key, valid] : gramgan::test::kConfigEnumKeys) {
    SCOPED_TRACE(key);
    nlohmann::json j = nlohmann::json::parse(gan::config_to_json(unusual_config()));
    j[key] = "bogus";
    const std::string text = j.dump();
    EXPECT_ERROR_MENTIONS(gan::config_from_json(text, "run/checkpoint.safetensors"), "run/checkpoint.safetensors");
    EXPECT_ERROR_MENTIONS(gan::config_from_json(text, "x"), std::string("'") + key + "'");
    EXPECT_ERROR_MENTIONS(gan::config_from_json(text, "x"), "unknown value 'bogus'");
    EXPECT_ERROR_MENTIONS(gan::config_from_json(text, "x"), valid);
  }
}

// Runs from before the arbitrary-style architecture have no arch, decoder_width or content_target: johnson runs.
// (Nor calibrated or calibrate_every: no calibration, or the first batch's only.)
TEST(ConfigJson, ConfigsWithoutTheAdainKeysAreJohnsonRuns) {
  nlohmann::json j = nlohmann::json::parse(gan::config_to_json(unusual_config()));
  for (const char* key : {"arch", "decoder_width", "content_target", "calibrated", "calibrate_every"}) j.erase(key);
  const gan::TrainConfig back = gan::config_from_json(j.dump(), "x");
  EXPECT_EQ(back.arch, gan::Arch::johnson);
  EXPECT_EQ(back.decoder.width, gan::DecoderOptions{}.width);
  EXPECT_EQ(back.content_target, gan::ContentTarget::adain);
  EXPECT_TRUE(back.calibrate.empty());
  EXPECT_EQ(back.calibrate_every, 0);  // calibrated runs from before re-balancing kept their first weights
}

TEST(ConfigJson, MissingOrMistypedFieldIsAnError) {
  nlohmann::json j = nlohmann::json::parse(gan::config_to_json(unusual_config()));
  j.erase("lambda_tv");
  EXPECT_ERROR_MENTIONS(gan::config_from_json(j.dump(), "x"), "lambda_tv");
  j = nlohmann::json::parse(gan::config_to_json(unusual_config()));
  j["vgg_pool"] = 3;
  EXPECT_ERROR_MENTIONS(gan::config_from_json(j.dump(), "x"), "unreadable");
}

// A checkpoint written before histogram_every existed still resumes, with the default.
TEST(ConfigJson, AKeyAddedLaterMayBeMissing) {
  nlohmann::json j = nlohmann::json::parse(gan::config_to_json(unusual_config()));
  j.erase("histogram_every");
  EXPECT_EQ(gan::config_from_json(j.dump(), "x").histogram_every, gan::TrainConfig{}.histogram_every);
}

template <class Table>
void expect_round_trip(const Table& table) {
  for (const auto& entry : table) {
    EXPECT_EQ(gan::enum_name(table, entry.value), entry.name);
    EXPECT_EQ(gan::parse_enum(table, entry.name, "x"), entry.value);
  }
}

TEST(EnumNames, EveryTableRoundTrips) {
  expect_round_trip(gan::kPoolNames);
  expect_round_trip(gan::kTvModeNames);
  expect_round_trip(gan::kDTypeNames);
  expect_round_trip(gan::kGradcheckDTypeNames);
}

TEST(EnumNames, DTypeNamesAreTheEngines) {
  for (const auto& entry : gan::kDTypeNames) EXPECT_EQ(entry.name, gramgan::dtype_name(entry.value));
}

TEST(EnumNames, UnknownStringIsAnErrorListingTheValidOnes) {
  EXPECT_ERROR_MENTIONS(gan::parse_enum(gan::kPoolNames, "maximum", "--vgg-pool"),
                        "--vgg-pool: unknown value 'maximum'; valid values: max, average");
  EXPECT_ERROR_MENTIONS(gan::parse_enum(gan::kTvModeNames, "", "--tv"), "--tv: unknown value ''");
  // Names are exact: no case folding, no prefixes.
  EXPECT_ERROR_MENTIONS(gan::parse_enum(gan::kGradcheckDTypeNames, "Double", "--dtype"), "valid values: double, float");
  EXPECT_ERROR_MENTIONS(gan::parse_enum(gan::kDTypeNames, "float", "dtype"), "valid values: float32, float64");
  EXPECT_EQ(gan::enum_names(gan::kPoolNames), (std::vector<std::string>{"max", "average"}));
}

}  // namespace
