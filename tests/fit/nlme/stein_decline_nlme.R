# R nlme (Lindstrom-Bates, method "ML") fit of Stein 2019's decline phase, the same model and
# data cartpk's SAEM fits in tests/fit/test_saem_nlme.py:
#   log DV = log cmax + log((1 - fb) exp(-alpha tau) + fb exp(-beta tau)) + eps,
#   tau = TIME - tmax (tmax fixed), log-normal IIV on cmax and alpha, logit fb, log beta.
# Usage: Rscript stein_decline_nlme.R OBS.csv OUT.csv TMAX START (START: 4 comma-separated
# values on the estimation scale: log cmax, log alpha, logit fb, log beta).
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(nlme))
d <- read.csv(args[1])
d$tau <- d$TIME - as.numeric(args[3])
d$ldv <- log(d$DV)
d <- groupedData(ldv ~ tau | ID, data = d)
st <- as.numeric(strsplit(args[4], ",")[[1]])
fit <- nlme(
  ldv ~ lcmax + log((1 - plogis(lfb)) * exp(-exp(lalpha) * tau) + plogis(lfb) * exp(-exp(lbeta) * tau)),
  data = d,
  fixed = lcmax + lalpha + lfb + lbeta ~ 1,
  random = pdDiag(lcmax + lalpha ~ 1),
  start = c(lcmax = st[1], lalpha = st[2], lfb = st[3], lbeta = st[4]),
  method = "ML",
  control = nlmeControl(maxIter = 200, msMaxIter = 200, pnlsMaxIter = 50)
)
fe <- fixef(fit)
se <- sqrt(diag(vcov(fit)))
sds <- as.numeric(VarCorr(fit)[, "StdDev"])
out <- data.frame(
  parameter = c("cmax", "alpha", "fb", "beta", "omega_cmax", "omega_alpha", "sigma", "minus2ll_log_dv"),
  estimate = c(fe[["lcmax"]], fe[["lalpha"]], fe[["lfb"]], fe[["lbeta"]], sds[1], sds[2], fit$sigma,
               -2 * as.numeric(logLik(fit))),
  se = c(se[["lcmax"]], se[["lalpha"]], se[["lfb"]], se[["lbeta"]], NA, NA, NA, NA)
)
write.csv(out, args[2], row.names = FALSE)
