#include "CSimulatorKernels.h"
