# Stubs for the compiled ufunc module: every activation here is a numpy.ufunc.
import numpy as np

sigmoid: np.ufunc
tanh: np.ufunc
relu: np.ufunc
sigmoid_derivative: np.ufunc
tanh_derivative: np.ufunc
relu_derivative: np.ufunc
sigmoid_backward: np.ufunc
tanh_backward: np.ufunc
relu_backward: np.ufunc
leaky_relu: np.ufunc
leaky_relu_derivative: np.ufunc
leaky_relu_backward: np.ufunc
